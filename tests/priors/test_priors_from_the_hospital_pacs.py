"""Priors fetched from the hospital's own PACS: a real second Orthanc plays that PACS (it
answers C-FIND, C-MOVE and C-GET), our Orthanc receives, the follower ingests, the job runs
in a real Procrastinate worker. A prior never becomes a case nor is triaged; a PACS that is
down leaves the case readable and says why."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from procrastinate.contrib.django import app
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.hospitals.models import HospitalPACS
from readingcenter.pacs.orthanc_server import OrthancConfig, OrthancProcess, free_port
from readingcenter.priors import services
from readingcenter.priors.models import PriorFetch, PriorLookup
from readingcenter.studies.models import Study
from readingcenter.worklist.models import Case
from tests.pacs.dicom_files import FLAIR, c_store, follow_until, new_study

pytestmark = pytest.mark.django_db(transaction=True)
PATIENT = "P-PRIOR-1"
TODAY = dt.date.today()


def _date(years_ago: float) -> str:
    return (TODAY - dt.timedelta(days=int(365 * years_ago))).strftime("%Y%m%d")


@pytest.fixture
def our_dicom_port():
    return free_port()


@pytest.fixture
def hospital_pacs(tmp_path, our_dicom_port, hospital_a):
    """The hospital's PACS: an Orthanc that knows our AE title as a move destination, with
    the patient's earlier studies in it."""
    config = OrthancConfig(
        directory=tmp_path / "hospital-pacs", http_port=free_port(), dicom_port=free_port(),
        aet="ALPHA_PACS", name="alpha-pacs",
        extra={"DicomModalities": {"readingcenter": ["READINGCENTER", "127.0.0.1",
                                                     our_dicom_port]},
               "DicomAlwaysAllowFind": True, "DicomAlwaysAllowMove": True,
               "DicomAlwaysAllowGet": True},
    )  # fmt: skip
    process = OrthancProcess(config).start()
    priors = {
        "brain-1y": ("MR BRAIN WITHOUT CONTRAST", _date(1)),
        "head-3y": ("MR HEAD", _date(3)),
        "knee-2y": ("MR KNEE", _date(2)),  # another body part: not relevant
        "brain-9y": ("MR BRAIN", _date(9)),  # older than the hospital's 5 years
    }
    uids = {}
    for name, (description, date) in priors.items():
        uid, files = new_study(FLAIR[:3], tmp_path / name, PatientID=PATIENT,
                               StudyDescription=description, StudyDate=date,
                               AccessionNumber=f"OLD{len(uids)}")  # fmt: skip
        c_store(files, port=config.dicom_port, calling_aet="ALPHA_MR", called_aet="ALPHA_PACS")
        uids[name] = uid
    HospitalPACS.objects.create(hospital=hospital_a, ae_title="ALPHA_PACS", host="127.0.0.1",
                                port=config.dicom_port, match="body_part", max_studies=3,
                                max_years=5)  # fmt: skip
    yield uids
    process.stop(kill=True)


def _send_current(tmp_path, port: int) -> str:
    uid, files = new_study(FLAIR[:3], tmp_path / "current", PatientID=PATIENT,
                           StudyDescription="MR BRAIN", StudyDate=TODAY.strftime("%Y%m%d"),
                           AccessionNumber="NEW1")  # fmt: skip
    c_store(files, port=port, calling_aet="ALPHA_CT")
    return uid


def _run_prior_jobs(monkeypatch) -> None:
    """A real worker runs the queued priors job, then stops (wait=False)."""
    run = services.priors_lookup_run

    def then_close(**kwargs):
        try:
            return run(**kwargs)
        finally:
            connection.close()  # the worker's pool thread: closed so the test DB can be dropped

    monkeypatch.setattr(services, "priors_lookup_run", then_close)
    with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
        worker_app.run_worker(queues=["priors"], wait=False, install_signal_handlers=False)


@pytest.mark.parametrize("retrieve", ["move", "get"])
def test_a_prior_arrives_before_the_radiologist_opens_the_case(
    orthanc_factory, our_dicom_port, hospital_pacs, tmp_path, monkeypatch, retrieve, radiologist
):
    HospitalPACS.objects.update(retrieve=retrieve)
    orthanc_factory(dicom_port=our_dicom_port)
    current_uid = _send_current(tmp_path, our_dicom_port)
    current = follow_until(
        lambda: Study.objects.filter(study_instance_uid=current_uid, status="complete").first()
    )
    jobs = ProcrastinateJob.objects.filter(task_name="priors.lookup", args__study_id=current.id)
    assert jobs.count() == 1
    _run_prior_jobs(monkeypatch)
    wanted = {hospital_pacs["brain-1y"], hospital_pacs["head-3y"]}
    priors = follow_until(
        lambda: set(
            Study.objects.filter(study_instance_uid__in=wanted, status="complete",
                                 is_prior=True).values_list("study_instance_uid", flat=True)
        ) == wanted and wanted, timeout=60,
    )  # fmt: skip
    assert priors
    lookup = PriorLookup.objects.get(study=current)
    assert (lookup.state, lookup.found, lookup.chosen) == ("done", 4, 2)
    assert set(PriorFetch.objects.values_list("study_instance_uid", "state")) == {
        (uid, "retrieved") for uid in wanted
    }
    assert not Study.objects.filter(
        study_instance_uid__in=[hospital_pacs["knee-2y"], hospital_pacs["brain-9y"]]
    ).exists()
    # A prior is never a case, never triaged.
    assert not Case.objects.filter(study__is_prior=True).exists()
    assert Case.objects.filter(study=current).exists()
    prior_ids = list(Study.objects.filter(is_prior=True).values_list("id", flat=True))
    triage_jobs = ProcrastinateJob.objects.filter(task_name="studies.study_completed")
    assert not [j for j in triage_jobs if j.args.get("study_id") in prior_ids]
    # The radiologist's case page lists them and offers the side-by-side comparison.
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.force_login(radiologist)
    page = client.get(reverse("case-detail", args=[current.case.pk])).content.decode()
    assert page.count("from the hospital's PACS") == 2
    assert "hangingProtocolId=%40ohif%2FhpCompare" in page
    assert hospital_pacs["brain-1y"] in page  # the most recent prior of the same modality


def test_a_pacs_that_is_down_leaves_the_case_readable_and_says_why(
    orthanc_factory, our_dicom_port, hospital_a, tmp_path, monkeypatch
):
    HospitalPACS.objects.create(hospital=hospital_a, ae_title="ALPHA_PACS", host="127.0.0.1",
                                port=free_port())  # fmt: skip
    orthanc_factory(dicom_port=our_dicom_port)
    current_uid = _send_current(tmp_path, our_dicom_port)
    current = follow_until(
        lambda: Study.objects.filter(study_instance_uid=current_uid, status="complete").first()
    )
    _run_prior_jobs(monkeypatch)
    lookup = PriorLookup.objects.get(study=current)
    assert lookup.state == "failed" and "did not answer" in lookup.error, lookup.error
    assert lookup.attempts == 1 and lookup.next_try_at is not None
    retry = ProcrastinateJob.objects.filter(
        task_name="priors.lookup", status="todo", args__study_id=current.id
    ).get()
    assert retry.scheduled_at is not None  # asked again after the backoff
    assert Case.objects.get(study=current).state == "unread"  # readable meanwhile
    from readingcenter.worklist.api import CaseDetailSerializer

    status = CaseDetailSerializer(Case.objects.get(study=current)).data["priors_status"]
    assert status["state"] == "failed" and "ALPHA_PACS" in status["reason"]


def test_relevant_priors_follow_the_hospitals_rules(hospital_a):
    from readingcenter.priors.qr import FoundStudy

    pacs = HospitalPACS(hospital=hospital_a, ae_title="X", host="h", port=1, match="modality",
                        keywords="두부", max_studies=2, max_years=5)  # fmt: skip
    study = Study(study_instance_uid="1.2.3", modalities=["CT"], body_part_examined="HEAD",
                  study_description="CT HEAD")  # fmt: skip

    def found(uid, modality, description, years):
        return FoundStudy(uid, _date(years), description, [modality], "", None)

    candidates = [
        found("1.2.3", "CT", "CT HEAD", 0),  # the study itself
        found("a", "MR", "MR 두부", 0.5),  # another modality, but the hospital's keyword
        found("b", "CT", "CT CHEST", 1),  # same modality
        found("c", "CT", "CT HEAD", 2),  # same modality, past the limit of two
        found("d", "CT", "CT HEAD", 7),  # too old
    ]
    assert [c.study_instance_uid for c in services.choose_priors(study, candidates, pacs)] == [
        "a",
        "b",
    ]
    pacs.match = "body_part"
    chosen = services.choose_priors(study, candidates, pacs)
    assert [c.study_instance_uid for c in chosen] == ["a", "c"]


def test_one_patient_id_at_two_hospitals_stays_two_patients(hospital_a, hospital_b):
    """Hospital A's patient 12345 and hospital B's are two people; so are two issuers' 12345
    at one hospital."""
    from readingcenter.worklist.selectors import priors_for
    from tests.factories import make_case, make_study

    case = make_case(hospital_a, patient_id="12345")
    mine = make_study(hospital_a, patient_id="12345")
    make_study(hospital_b, patient_id="12345")  # another hospital's patient
    make_study(hospital_a, patient_id="12345", issuer_of_patient_id="OTHER-CLINIC")
    assert list(priors_for(case)) == [mine]
