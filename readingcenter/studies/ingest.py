"""Following Orthanc's change log into the reading center.

The follower reads ``/changes`` from a cursor kept in PostgreSQL and moves the cursor in the
same transaction as the rows the changes produced. Every handler is idempotent: replaying the
feed (after a crash, or from zero) leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from readingcenter import hooks
from readingcenter.audit.services import audit_record
from readingcenter.hospitals.selectors import hospital_for_ae_title
from readingcenter.pacs.dicom_header import HeaderError, missing_tags, series_fields, study_fields
from readingcenter.pacs.models import IngestCursor
from readingcenter.pacs.orthanc import OrthancClient, OrthancError, get_client
from readingcenter.studies.models import (
    QuarantineReason,
    Series,
    Study,
    StudyEvent,
    StudyStatus,
)
from readingcenter.studies.services import (
    SYSTEM_INGEST,
    study_changed,
    study_event_record,
    study_mark_complete,
    study_match_order,
    study_priority_refresh,
)

log = logging.getLogger(__name__)

# Instance origins that mean "a hospital sent it". Objects the reading center itself writes
# into a study go through the REST API (Origin "RestApi") and must not re-open or re-triage it.
HOSPITAL_ORIGINS = {"DicomProtocol", "Plugins", "WebDav", "Unknown", ""}
HANDLED_CHANGES = {"NewSeries", "NewStudy", "StableStudy"}


@dataclass
class FollowResult:
    processed: int
    cursor: int
    done: bool
    resynced: bool = False
    skipped: bool = False


@dataclass
class _NewSeries:
    orthanc_id: str
    instance_count: int
    origin: str
    remote_aet: str
    header: object | None  # pydicom Dataset, None for our own objects
    error: str = ""


def _cursor(name: str) -> IngestCursor:
    cursor, _ = IngestCursor.objects.get_or_create(name=name)
    return cursor


# -- one study ------------------------------------------------------------------------------
def _read_new_series(client: OrthancClient, series: dict) -> _NewSeries:
    instances = series.get("Instances") or []
    first = instances[0] if instances else None
    if first is None:
        return _NewSeries(series["ID"], 0, "", "", None, error="series without instances")
    metadata = client.instance_metadata(first)
    origin = metadata.get("Origin", "")
    remote_aet = (metadata.get("RemoteAET") or "").strip()
    if origin not in HOSPITAL_ORIGINS:
        return _NewSeries(series["ID"], len(instances), origin, remote_aet, None)
    try:
        header = client.instance_header(first)
    except HeaderError as exc:
        return _NewSeries(series["ID"], len(instances), origin, remote_aet, None, error=str(exc))
    return _NewSeries(series["ID"], len(instances), origin, remote_aet, header)


def study_sync(
    orthanc_id: str,
    *,
    client: OrthancClient | None = None,
    seq: int | None = None,
    stable: bool | None = None,
    reason: str = "StableStudy",
    orthanc_series: list[dict] | None = None,
) -> Study | None:
    """Bring one study in line with Orthanc. ``stable=None`` asks Orthanc (sweep, resync).

    ``orthanc_series`` may name only some of the study's series (a NewSeries change brings
    its own): series not listed are left as they are, and the next full sync counts them.
    """
    client = client or get_client()
    try:
        # IsStable is only asked for when the caller does not know (the feed says it).
        info = client.study(orthanc_id) if stable is None else None
        if orthanc_series is None:
            orthanc_series = client.study_series(orthanc_id)
    except OrthancError as exc:
        if exc.is_not_found:
            # Deleted from Orthanc between the change and now: nothing left to ingest.
            log.info("study %s is gone from Orthanc (change %s); skipped", orthanc_id, seq)
            return None
        raise
    if stable is None:
        stable = stable_everywhere(info)

    # Inside the follower's step this joins its transaction (the step's savepoint already
    # guards it); called on its own (sweep, resync) it is its own transaction.
    with transaction.atomic(savepoint=False):
        study = Study.objects.select_for_update().filter(orthanc_id=orthanc_id).first()
        if stable and seq is not None and study is not None and study.completed_change_seq == seq:
            # This very StableStudy completed the study already (another follower, or this
            # one ahead of its cursor or before a restart): anything newer has changes of its
            # own after it.
            return study
        known = {s.orthanc_id: s for s in study.series.all()} if study else {}
        unknown = [s for s in orthanc_series if s["ID"] not in known]
        # Reading series headers over HTTP while holding the study lock is deliberate: the
        # only other writer is the sweep, and it must wait rather than create a twin.
        fresh = [_read_new_series(client, s) for s in unknown]
        hospital_series = [f for f in fresh if f.header is not None]
        if study is None:
            if not hospital_series:
                if any(f.error for f in fresh):
                    info = info or client.study(orthanc_id)
                    study = _create_unreadable(orthanc_id, info, fresh, seq)
                else:
                    return None  # only our own objects, or still empty: nothing to show
            else:
                study = _create(orthanc_id, hospital_series[0], seq)
        _apply_series(study, orthanc_series, known, fresh, seq)
        if stable:
            _settle(study, seq, reason)
        study.save()
        study_changed(study)
    return study


def orthanc_last_update(info: dict) -> dt.datetime | None:
    """When the shared index last changed this study (Orthanc writes LastUpdate in UTC)."""
    try:
        return dt.datetime.strptime(info["LastUpdate"], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
    except (KeyError, TypeError, ValueError):
        return None


def stable_everywhere(info: dict) -> bool:
    """Whether a study is stable on every Orthanc node, as far as one node can tell.

    ``IsStable`` is the answering node's memory only: a node that never received a file of the
    study (or was restarted) calls it stable while another node is still receiving it. The
    index is shared, and with it the study's LastUpdate: quiet for StableAge there means no
    node has added anything for that long.
    """
    if not info.get("IsStable"):
        return False
    last = orthanc_last_update(info)
    age = dt.timedelta(seconds=settings.ORTHANC_STABLE_AGE)
    return last is None or timezone.now() - last >= age


def _create(orthanc_id: str, first: _NewSeries, seq: int | None) -> Study:
    fields = study_fields(first.header)
    hospital = hospital_for_ae_title(first.remote_aet)
    missing = missing_tags(first.header, settings.INGEST_REQUIRED_TAGS)
    study = Study(orthanc_id=orthanc_id, hospital=hospital, calling_ae_title=first.remote_aet[:16])
    for name, value in fields.items():
        setattr(study, name, value)
    if hospital is None:
        study.status = StudyStatus.QUARANTINED
        study.quarantine_reason = QuarantineReason.UNKNOWN_SENDER
        study.quarantine_detail = (
            f"Calling AE title {first.remote_aet or '(none)'!r} belongs to no hospital. "
            "Onboard the hospital with this AE title, then assign the study to it."
        )
    elif twin := Study.objects.filter(study_instance_uid=study.study_instance_uid).first():
        study.status = StudyStatus.QUARANTINED
        study.quarantine_reason = QuarantineReason.CONFLICTING_UID
        study.quarantine_detail = (
            f"Study {twin.pk} (patient {twin.patient_id!r}) already has this StudyInstanceUID; "
            f"this copy is for patient {study.patient_id!r}. Ask the hospital which is right "
            "before assigning or rejecting it."
        )
    elif missing:
        study.status = StudyStatus.QUARANTINED
        study.quarantine_reason = QuarantineReason.MISSING_DATA
        study.quarantine_detail = f"Missing required DICOM data: {', '.join(missing)}."
    # Hook "studies.arrival_is_prior", first(hospital=, study_instance_uid=): whether we asked
    # the hospital's PACS for this study as a prior of a newer one (the priors app knows).
    study.is_prior = hospital is not None and bool(
        hooks.first("studies.arrival_is_prior", False, hospital=hospital,
                    study_instance_uid=study.study_instance_uid)
    )  # fmt: skip
    study.save()
    study_event_record(study, StudyEvent.Kind.RECEIVED, seq=seq, calling_ae_title=first.remote_aet)
    if study.is_quarantined:
        study_event_record(
            study, StudyEvent.Kind.QUARANTINED, seq=seq, reason=study.quarantine_reason
        )
    audit_record(
        actor=SYSTEM_INGEST,
        action="study.quarantine" if study.is_quarantined else "study.receive",
        target=study,
        hospital=hospital,
        patient_id=study.patient_id,
        detail={
            "calling_ae_title": first.remote_aet,
            "study_instance_uid": study.study_instance_uid,
            "quarantine_reason": study.quarantine_reason,
        },
    )
    if study.is_prior:
        return study  # no order, no priority: it is there to be compared with
    study_match_order(study, seq=seq)
    study_priority_refresh(study, actor_label=SYSTEM_INGEST, seq=seq)
    if not study.is_quarantined:
        # Hook "studies.study_received", publish(study=): a hospital's new study began to
        # arrive, in the ingest transaction (the priors app looks for its priors).
        hooks.publish("studies.study_received", study=study)
    return study


def _create_unreadable(orthanc_id: str, info: dict, fresh: list[_NewSeries], seq) -> Study:
    """A study whose headers cannot be read is kept, quarantined, with the reason."""
    tags = info.get("MainDicomTags", {})
    study = Study.objects.create(
        orthanc_id=orthanc_id,
        study_instance_uid=tags.get("StudyInstanceUID", orthanc_id)[:64],
        status=StudyStatus.QUARANTINED,
        quarantine_reason=QuarantineReason.MISSING_DATA,
        quarantine_detail="; ".join(f.error for f in fresh if f.error)[:2000],
        calling_ae_title=next((f.remote_aet for f in fresh if f.remote_aet), "")[:16],
    )
    study_event_record(study, StudyEvent.Kind.QUARANTINED, seq=seq, reason=study.quarantine_reason)
    audit_record(
        actor=SYSTEM_INGEST,
        action="study.quarantine",
        target=study,
        detail={"error": study.quarantine_detail},
    )
    return study


def _apply_series(study: Study, orthanc_series, known, fresh, seq) -> None:
    counts = {s["ID"]: len(s.get("Instances") or []) for s in orthanc_series}
    created_rows: list[Series] = []
    grew = False
    for orthanc_id, row in known.items():
        count = counts.get(orthanc_id)
        if count is not None and count != row.instance_count:
            grew = grew or (count > row.instance_count and not row.is_own)
            row.instance_count = count
            row.save(update_fields=["instance_count"])
    for item in fresh:
        own = item.header is None and not item.error
        values = series_fields(item.header) if item.header is not None else {}
        series_uid = values.pop("series_instance_uid", "") or item.orthanc_id
        # Plain create: the study row is locked and the series was not among its known ones.
        row = Series.objects.create(
            study=study,
            orthanc_id=item.orthanc_id,
            series_instance_uid=series_uid,
            instance_count=item.instance_count,
            is_own=own,
            **values,
        )
        created_rows.append(row)
        if not own:
            grew = True
            study_event_record(
                study,
                StudyEvent.Kind.SERIES_ADDED,
                seq=seq,
                series_instance_uid=series_uid,
                modality=row.modality,
            )
    rows = [s for s in [*known.values(), *created_rows] if not s.is_own]
    study.series_count = len(rows)
    study.instance_count = sum(s.instance_count for s in rows)
    study.modalities = sorted({s.modality for s in rows if s.modality})
    study.body_part_examined = next(
        (s.body_part_examined for s in rows if s.body_part_examined), ""
    )
    if grew:
        study.last_instance_at = timezone.now()
        if study.status == StudyStatus.COMPLETE:
            # Late data re-opens the study; it completes again (a new version) when stable.
            study.status = StudyStatus.RECEIVING
            study_event_record(
                study, StudyEvent.Kind.REOPENED, seq=seq, instances=study.instance_count
            )


def _settle(study: Study, seq: int | None, reason: str) -> None:
    """Orthanc says the study is stable."""
    if study.status == StudyStatus.RECEIVING:
        study_mark_complete(study, seq=seq, reason=reason)
    elif study.status == StudyStatus.QUARANTINED and study.completed_at is None:
        # Remembered so that a manager's assignment can complete it at once.
        study.completed_at = timezone.now()


# -- the feed ---------------------------------------------------------------------------------
def apply_change(change: dict, *, client: OrthancClient) -> None:
    kind, resource_id, seq = change["ChangeType"], change["ID"], change["Seq"]
    if kind == "NewSeries":
        # A replayed one was already skipped by ``_needs_work``; one that a sweep recorded
        # meanwhile is among the study's known series under its lock, and left alone there.
        try:
            series = client.series(resource_id)
        except OrthancError as exc:
            if exc.is_not_found:
                return
            raise
        # While hospitals are sending, Orthanc answers slowly: the new series is all we
        # need to record the arrival; StableStudy re-reads the whole study.
        study_sync(series["ParentStudy"], client=client, seq=seq, stable=False,
                   orthanc_series=[series])  # fmt: skip
    elif kind == "NewStudy":
        if not Study.objects.filter(orthanc_id=resource_id).exists():
            study_sync(resource_id, client=client, seq=seq, stable=False)
    elif kind == "StableStudy":
        study_sync(resource_id, client=client, seq=seq, stable=True)


def _record_failure(change: dict, exc: Exception) -> None:
    audit_record(
        actor=SYSTEM_INGEST,
        action="ingest.change_failed",
        outcome="error",
        target_type="orthanc.change",
        target_id=change.get("Seq", ""),
        detail={"change": change, "error": f"{exc.__class__.__name__}: {exc}"[:2000]},
    )


def follow_once(
    *, client: OrthancClient | None = None, name: str = "default", batch_size: int | None = None
) -> FollowResult:
    """Apply the next batch of changes. Safe to run in several processes at once."""
    client = client or get_client()
    batch_size = batch_size or settings.INGEST_BATCH_SIZE
    cursor = _cursor(name)
    if cursor.resync_needed:
        _ahead_state().pop(name, None)
        return resync(client=client, name=name)
    page = client.changes(since=cursor.last_seq, limit=batch_size)
    if page.last < cursor.last_seq:
        log.warning(
            "Orthanc's change log is at %s, behind our cursor %s: its database was reset; "
            "resynchronising from /studies",
            page.last,
            cursor.last_seq,
        )
        IngestCursor.objects.filter(pk=cursor.pk).update(resync_needed=True)
        _ahead_state().pop(name, None)
        return resync(client=client, name=name)
    if not page.changes:
        return FollowResult(0, cursor.last_seq, done=True)
    # Each change we act on commits on its own, together with the cursor moved past it: a
    # completed study is visible at once instead of waiting for the rest of the page, and a
    # crash loses only the change in flight. Changes we do not act on (most are NewInstance)
    # ride along with the next commit.
    # Not waiting for the WAL flush is safe for the follower, and saves most of a commit's
    # cost: if PostgreSQL itself crashes and loses a commit, it loses the cursor step with it,
    # and the change is applied again (every handler is idempotent). It holds for the rest of
    # this connection's life, which in the follower process means its sweep too: idempotent
    # as well (a lost completion is found again by the next sweep).
    with connection.cursor() as sql:
        sql.execute("SET synchronous_commit TO off")
    try:
        return _follow_page(client, name, cursor, page, batch_size)
    except DatabaseError:
        # PostgreSQL may have lost our last commits (they do not wait for the WAL): what this
        # process remembers having completed ahead may not be there any more.
        _ahead_state().pop(name, None)
        raise


def _follow_page(client, name: str, cursor: IngestCursor, page, batch_size: int) -> FollowResult:
    position = cursor.last_seq
    applied = 0
    ahead = _ahead_of(name, cursor.last_seq)
    for change in page.changes:
        # Checked as we go, not up front: the NewSeries before it may just have created the
        # study a NewStudy names, and then the NewStudy needs nothing.
        if not _needs_work(change):
            continue
        completed = settings.INGEST_COMPLETE_AHEAD and _complete_ahead(
            client, ahead, page, after=position, batch_size=batch_size
        )
        if completed and not _needs_work(change):
            # A study completed just now may be this change's: its series is recorded, so
            # the NewSeries would fetch it from Orthanc again for nothing. (A StableStudy
            # always needs work here, and one completed ahead is passed just below.)
            continue
        if change["Seq"] in ahead.applied:
            ahead.applied.discard(change["Seq"])  # completed ahead: the cursor moves past it
            continue
        if not _commit_step(cursor.pk, position, change["Seq"], change, client):
            return FollowResult(applied, position, done=False, skipped=True)
        position, applied = change["Seq"], applied + 1
    end = page.changes[-1]["Seq"]
    if position != end:
        # The changes after the last one we acted on needed nothing: move past them.
        if not _commit_step(cursor.pk, position, end, None, client):
            return FollowResult(applied, position, done=False, skipped=True)
        position = end
    return FollowResult(len(page.changes), position, done=page.done)


# -- completing ahead of the cursor -------------------------------------------------------------
# The cursor applies changes strictly in order, and during a burst it falls behind: a study
# that Orthanc has called stable then waits for every earlier study's arrival to be recorded
# first (seconds, at four hospitals sending at once on two cores). Its completion needs none of
# them: a StableStudy re-reads the whole study from Orthanc and records what the earlier
# changes would have (its series, its arrival), and those changes, reached later, find their
# work done and cost one lookup. So before each change the cursor applies, the follower reads
# the change log past its page and completes the studies stable there, each in its own
# transaction; the cursor then moves past those StableStudy changes. It only runs when there
# is work to do (a caught-up follower has nothing past its page), and it never changes what
# ends in the database, only when: every handler is idempotent, a StableStudy met twice
# (another follower, or this one restarted and its memory of what it applied lost) finds that
# it completed the study itself (Study.completed_change_seq) and writes nothing, and one that
# fails here is left to the cursor, which applies it in its turn and records the failure as it
# always has.


@dataclass
class _Ahead:
    """What this follower has done past its cursor (last seen at ``cursor_seq``): how far it
    has read the change log, the StableStudy changes it has applied there, and when it last
    looked."""

    cursor_seq: int = 0
    read_to: int = 0
    applied: set[int] = field(default_factory=set)
    left: set[int] = field(default_factory=set)  # failed here: the cursor's to apply
    # Never yet: time.monotonic() counts from boot, so a 0 would hold the first look back on a
    # machine up for less than AHEAD_INTERVAL (or a test's longer one).
    looked_at: float = float("-inf")


# Per thread (a follower is one; the tests race several in one process), per cursor name.
_local = threading.local()


def _ahead_state() -> dict[str, _Ahead]:
    if not hasattr(_local, "ahead"):
        _local.ahead = {}
    return _local.ahead


# The change log read past the page at most this often, and this much at a time.
AHEAD_INTERVAL = 0.05
AHEAD_PAGES = 10


def _ahead_of(name: str, cursor_seq: int) -> _Ahead:
    state = _ahead_state()
    ahead = state.setdefault(name, _Ahead())
    if cursor_seq < ahead.cursor_seq:
        # The cursor went back (reset by hand, or another database): start again.
        ahead = state[name] = _Ahead()
    ahead.cursor_seq = cursor_seq
    ahead.applied = {seq for seq in ahead.applied if seq > cursor_seq}
    ahead.left = {seq for seq in ahead.left if seq > cursor_seq}
    return ahead


def _complete_ahead(client, ahead: _Ahead, page, *, after: int, batch_size: int) -> int:
    """Complete the studies Orthanc calls stable past ``after`` (the cursor's position);
    returns how many it completed."""
    now = time.monotonic()
    if now - ahead.looked_at < AHEAD_INTERVAL:
        return 0
    ahead.looked_at = now
    completed = 0
    for change in _read_ahead(client, ahead, page, after=after, batch_size=batch_size):
        seq = change["Seq"]
        if change["ChangeType"] != "StableStudy" or seq in ahead.applied or seq in ahead.left:
            continue
        applied = _apply_ahead(client, ahead, change)
        completed += seq in ahead.applied
        if not applied:
            break
    return completed


def _read_ahead(client, ahead: _Ahead, page, *, after: int, batch_size: int) -> list[dict]:
    """The rest of this page, then the log beyond it from where the last look stopped."""
    changes = [c for c in page.changes if c["Seq"] > after]
    since = max(ahead.read_to, page.changes[-1]["Seq"])
    if not page.done:
        for _ in range(AHEAD_PAGES):
            more = client.changes(since=since, limit=batch_size)
            changes += more.changes
            if more.changes:
                since = more.changes[-1]["Seq"]
            if more.done or not more.changes:
                break
    ahead.read_to = since
    return changes


def _apply_ahead(client, ahead: _Ahead, change: dict) -> bool:
    """Apply one StableStudy ahead of the cursor; False when looking further is pointless."""
    seq = change["Seq"]
    try:
        with transaction.atomic():
            study_sync(change["ID"], client=client, seq=seq, stable=True)
    except OrthancError as exc:
        if exc.status is None or exc.status >= 500:
            # Orthanc unreachable or failing: the rest would wait for it too. The cursor meets
            # the same error next and backs off; the next look tries again.
            log.info("looking ahead stopped at StableStudy %s: %s", seq, exc)
            return False
        log.info("StableStudy %s left to the cursor: %s", seq, exc)
        ahead.left.add(seq)
    except Exception as exc:  # noqa: BLE001 - see above: the cursor applies it and records why
        log.info("StableStudy %s left to the cursor: %s", seq, exc)
        ahead.left.add(seq)
    else:
        ahead.applied.add(seq)
    return True


def _needs_work(change: dict) -> bool:
    """Whether a change can do anything. Checked before opening a transaction: most changes
    (NewInstance, and NewStudy right after the NewSeries that created the study) cannot."""
    kind = change["ChangeType"]
    if kind == "NewStudy":
        return not Study.objects.filter(orthanc_id=change["ID"]).exists()
    if kind == "NewSeries":
        return not Series.objects.filter(orthanc_id=change["ID"]).exists()
    return kind in HANDLED_CHANGES


def _claim(cursor_pk: int, expected: int, target: int) -> bool:
    """Move the cursor from ``expected`` to ``target`` inside the caller's transaction.

    One conditional UPDATE: it takes the cursor's row lock until commit (a second follower
    waits here, then finds the cursor moved and backs off) and says whether this step is ours.
    """
    now = timezone.now()
    moved = IngestCursor.objects.filter(pk=cursor_pk, last_seq=expected).update(
        last_seq=target, last_polled_at=now, updated_at=now
    )
    return moved == 1


def _commit_step(cursor_pk: int, expected: int, target: int, change: dict | None, client) -> bool:
    """Apply one change and move the cursor from ``expected`` to ``target``, atomically.

    False when another follower has moved the cursor: what we read is not ours to apply.
    Orthanc being unreachable (or failing) aborts the step, to be retried. Anything else is a
    defect or bad data in this one study: the step rolls back, the failure goes on the audit
    trail with the change, and the feed moves on rather than wedging on it.
    """
    try:
        with transaction.atomic():
            if not _claim(cursor_pk, expected, target):
                return False
            if change is not None:
                apply_change(change, client=client)
        return True
    except OrthancError as exc:
        if exc.status is None or exc.status >= 500:
            raise
        failure: Exception = exc
    except Exception as exc:  # anything else: see the docstring
        log.exception("could not apply Orthanc change %s", change and change.get("Seq"))
        failure = exc
    with transaction.atomic():
        if not _claim(cursor_pk, expected, target):
            return False
        _record_failure(change, failure)
    return True


def follow_until_idle(
    *, client: OrthancClient | None = None, name: str = "default", max_batches: int = 10_000
) -> int:
    """Apply changes until Orthanc has none left; returns how many were applied."""
    total = 0
    for _ in range(max_batches):
        result = follow_once(client=client, name=name)
        total += result.processed
        if result.done and not result.resynced:
            break
    return total


def sweep(
    *,
    client: OrthancClient | None = None,
    name: str = "default",
    older_than: dt.timedelta | None = None,
) -> int:
    """Complete studies Orthanc reports stable but whose StableStudy we never saw.

    Orthanc tracks stability in memory: restarted before StableAge, it never emits
    StableStudy, yet reports ``IsStable`` later. Returns how many studies completed.
    """
    client = client or get_client()
    older_than = older_than or dt.timedelta(seconds=settings.ORTHANC_STABLE_AGE)
    cutoff = timezone.now() - older_than
    waiting = Study.objects.filter(status=StudyStatus.RECEIVING, last_instance_at__lt=cutoff)
    waiting_quarantined = Study.objects.filter(
        status=StudyStatus.QUARANTINED, completed_at__isnull=True, updated_at__lt=cutoff
    )
    completed = 0
    for orthanc_id in [
        *waiting.values_list("orthanc_id", flat=True),
        *waiting_quarantined.values_list("orthanc_id", flat=True),
    ]:
        study = study_sync(orthanc_id, client=client, stable=None, reason="sweep")
        if study is not None and study.status == StudyStatus.COMPLETE:
            completed += 1
    _recheck_recently_completed(client)
    IngestCursor.objects.filter(name=name).update(last_swept_at=timezone.now())
    return completed


def _recheck_recently_completed(client: OrthancClient) -> None:
    """Re-read a study completed lately when the index changed it after it completed.

    With several Orthanc nodes, one node's StableStudy can complete a study while another
    node is still receiving files of it into a series we already know (no NewSeries to tell
    us). That node's own StableStudy re-reads the study; if the node dies first, this does.
    """
    since = timezone.now() - dt.timedelta(seconds=settings.INGEST_RECHECK_WINDOW)
    recent = Study.objects.filter(status=StudyStatus.COMPLETE, completed_at__gte=since)
    for orthanc_id, completed_at in recent.values_list("orthanc_id", "completed_at"):
        try:
            info = client.study(orthanc_id)
        except OrthancError as exc:
            if exc.is_not_found:
                continue
            raise
        last = orthanc_last_update(info)
        # LastUpdate has whole seconds: a change in the second of completion counts too.
        if last is None or last < completed_at.replace(microsecond=0):
            continue
        # Our own objects (a report stored into the study) change LastUpdate too: only a
        # count that differs from ours is news.
        orthanc_series = client.study_series(orthanc_id)
        theirs = {s["ID"]: len(s.get("Instances") or []) for s in orthanc_series}
        ours = dict(
            Series.objects.filter(study__orthanc_id=orthanc_id).values_list(
                "orthanc_id", "instance_count"
            )
        )
        if theirs != ours:
            study_sync(
                orthanc_id, client=client, stable=None, reason="sweep",
                orthanc_series=orthanc_series,
            )  # fmt: skip


def resync(*, client: OrthancClient | None = None, name: str = "default") -> FollowResult:
    """Re-read every study Orthanc holds, then follow the change log from its newest entry."""
    client = client or get_client()
    last = client.changes(since=0, limit=1).last
    studies = client.study_ids()
    for orthanc_id in studies:
        study = study_sync(orthanc_id, client=client, stable=None, reason="resync")
        if study is not None:
            study_event_record(study, StudyEvent.Kind.RESYNCED)
    with transaction.atomic():
        cursor = IngestCursor.objects.select_for_update().get(name=name)
        cursor.last_seq = last
        cursor.resync_needed = False
        cursor.resyncs += 1
        cursor.save()
        audit_record(
            actor=SYSTEM_INGEST,
            action="ingest.resync",
            target=cursor,
            detail={"studies": len(studies), "cursor": last},
        )
    return FollowResult(len(studies), last, done=True, resynced=True)
