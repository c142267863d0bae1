"""A follower behind Orthanc's change log completes the stable studies past its cursor first.

During a burst the cursor, which applies changes in order, falls behind; a study Orthanc has
called stable must not wait for every earlier study's arrival to be recorded. What ends in the
database is the same as in order: one study, its series once, one completion, one triage job.
"""

from __future__ import annotations

import time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.audit.models import AuditEvent
from readingcenter.pacs.models import IngestCursor
from readingcenter.pacs.orthanc import OrthancClient, OrthancError, get_client
from readingcenter.studies import ingest
from readingcenter.studies.ingest import follow_once, follow_until_idle
from readingcenter.studies.models import Series, Study
from tests.pacs.dicom_files import BBMRI, FLAIR, c_store, new_study


def _send_two_studies(orthanc, tmp_path) -> list[str]:
    uids = []
    for name, files in (("a", FLAIR[:4]), ("b", BBMRI[:3])):
        uid, copies = new_study(files, tmp_path / name)
        c_store(copies, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
        uids.append(uid)
    time.sleep(orthanc.config.stable_age + 2)  # both stable in Orthanc's change log
    return uids


def _stable_seqs() -> dict[str, int]:
    changes = get_client().changes(since=0, limit=1000).changes
    return {c["ID"]: c["Seq"] for c in changes if c["ChangeType"] == "StableStudy"}


def _what_ended_in_the_database(uids: list[str]) -> list[tuple]:
    out = []
    for uid in uids:
        study = Study.objects.get(study_instance_uid=uid)
        kinds = list(study.events.values_list("kind", flat=True))
        jobs = [
            job.args
            for job in ProcrastinateJob.objects.filter(task_name="studies.study_completed")
            if job.args["study_id"] == study.id
        ]
        out.append(
            (study.status, study.version, study.series_count, study.instance_count,
             kinds.count("received"), kinds.count("completed"), len(jobs))
        )  # fmt: skip
    return out


def test_a_follower_behind_completes_the_stable_studies_before_its_cursor_reaches_them(
    orthanc, hospital_a, tmp_path
):
    uids = _send_two_studies(orthanc, tmp_path)
    stable = _stable_seqs()
    assert len(stable) == 2

    # One small page: the cursor stops long before either StableStudy...
    result = follow_once(batch_size=3)
    cursor = IngestCursor.objects.get(name="default").last_seq
    assert cursor == result.cursor < min(stable.values())
    # ...and both studies are already complete, each with all its series.
    assert [s.status for s in Study.objects.filter(study_instance_uid__in=uids)] == [
        "complete",
        "complete",
    ]

    follow_until_idle()
    assert IngestCursor.objects.get(name="default").last_seq >= max(stable.values())
    # The changes the cursor reached later found their work done: nothing twice, nothing failed.
    assert _what_ended_in_the_database(uids) == [
        ("complete", 1, 1, 4, 1, 1, 1),
        ("complete", 1, 1, 3, 1, 1, 1),
    ]
    assert Series.objects.count() == 2
    assert not AuditEvent.objects.filter(action="ingest.change_failed").exists()


def test_an_arrival_whose_study_was_just_completed_ahead_is_not_fetched_again(
    orthanc, hospital_a, tmp_path, monkeypatch
):
    """The look ahead runs when the cursor meets a change with work to do; when that change
    is the NewSeries of a study the look has just completed, its series is recorded already,
    and fetching it from Orthanc again would change nothing."""
    uids = _send_two_studies(orthanc, tmp_path)
    fetched = []
    real = OrthancClient.series

    def series(self, orthanc_id):
        fetched.append(orthanc_id)
        return real(self, orthanc_id)

    monkeypatch.setattr(OrthancClient, "series", series)
    follow_until_idle()
    assert fetched == []
    assert _what_ended_in_the_database(uids) == [
        ("complete", 1, 1, 4, 1, 1, 1),
        ("complete", 1, 1, 3, 1, 1, 1),
    ]


def test_a_follower_that_forgets_what_it_completed_ahead_applies_it_again_harmlessly(
    orthanc, hospital_a, tmp_path
):
    """A restarted follower (or another node's) reaches the StableStudy changes again."""
    uids = _send_two_studies(orthanc, tmp_path)
    follow_once(batch_size=3)
    ingest._ahead_state().clear()  # the process that completed them ahead is gone
    with CaptureQueriesContext(connection) as replay:
        follow_until_idle()
    # Each StableStudy, met again, finds that it completed the study itself and writes nothing.
    written = [
        q["sql"] for q in replay.captured_queries if q["sql"].startswith(("INSERT", "UPDATE"))
    ]
    assert all("pacs_ingestcursor" in sql for sql in written), written
    assert _what_ended_in_the_database(uids) == [
        ("complete", 1, 1, 4, 1, 1, 1),
        ("complete", 1, 1, 3, 1, 1, 1),
    ]
    assert not AuditEvent.objects.filter(action="ingest.change_failed").exists()


def test_in_order_when_completing_ahead_is_off(orthanc, hospital_a, tmp_path, settings):
    settings.INGEST_COMPLETE_AHEAD = False
    uids = _send_two_studies(orthanc, tmp_path)
    follow_once(batch_size=3)
    assert not Study.objects.filter(study_instance_uid__in=uids, status="complete").exists()
    follow_until_idle()
    assert _what_ended_in_the_database(uids) == [
        ("complete", 1, 1, 4, 1, 1, 1),
        ("complete", 1, 1, 3, 1, 1, 1),
    ]


def test_a_study_that_fails_ahead_is_left_to_the_cursor_which_records_why(
    orthanc, hospital_a, tmp_path, monkeypatch
):
    """A fault inside one study (here a handler that raises, standing in for a defect or bad
    data) is not swallowed by the look ahead: the cursor applies the change in its turn and
    puts the failure on the audit trail, as it does in order."""
    uids = _send_two_studies(orthanc, tmp_path)
    stable = _stable_seqs()
    real = ingest.study_sync
    first_orthanc_id = min(stable, key=stable.get)

    def study_sync(orthanc_id, **kwargs):
        if kwargs.get("stable") and orthanc_id == first_orthanc_id:
            raise RuntimeError("a defect in this one study")
        return real(orthanc_id, **kwargs)

    monkeypatch.setattr(ingest, "study_sync", study_sync)
    follow_once(batch_size=3)
    assert Study.objects.filter(status="complete").count() == 1  # the other one, ahead
    assert ingest._ahead_state()["default"].left == {stable[first_orthanc_id]}
    follow_until_idle()
    failed = AuditEvent.objects.filter(action="ingest.change_failed")
    assert [e.target_id for e in failed] == [str(stable[first_orthanc_id])]
    assert Study.objects.get(orthanc_id=first_orthanc_id).status == "receiving"
    assert Study.objects.exclude(orthanc_id=first_orthanc_id).get().status == "complete"
    assert Study.objects.filter(study_instance_uid__in=uids).count() == 2


def test_orthanc_failing_while_looking_ahead_stops_the_look_and_loses_nothing(
    orthanc, hospital_a, tmp_path, monkeypatch
):
    """Unreachable (or answering 5xx) for the look ahead: it stops at once instead of trying
    every stable study in turn, marks none of them as the cursor's, and the next look (or the
    cursor) completes them once Orthanc answers again."""
    uids = _send_two_studies(orthanc, tmp_path)
    real = ingest.study_sync
    calls = []

    def study_sync(orthanc_id, **kwargs):
        if kwargs.get("stable") and not calls:
            calls.append(orthanc_id)
            raise OrthancError("Orthanc at http://127.0.0.1:1 is unreachable")
        return real(orthanc_id, **kwargs)

    monkeypatch.setattr(ingest, "study_sync", study_sync)
    monkeypatch.setattr(ingest, "AHEAD_INTERVAL", 3600.0)  # one look in this call
    follow_once(batch_size=3)
    ahead = ingest._ahead_state()["default"]
    assert len(calls) == 1  # the look stopped at the first failure
    assert not ahead.applied and not ahead.left
    assert not Study.objects.filter(status="complete").exists()

    monkeypatch.setattr(ingest, "AHEAD_INTERVAL", 0.0)
    follow_until_idle()
    assert _what_ended_in_the_database(uids) == [
        ("complete", 1, 1, 4, 1, 1, 1),
        ("complete", 1, 1, 3, 1, 1, 1),
    ]
    assert not AuditEvent.objects.filter(action="ingest.change_failed").exists()
