"""Reads of the worklist, already narrowed to what the user may see (tenancy on the server)."""

from __future__ import annotations

import functools

from django.db.models import Count, Exists, F, Field, Func, OuterRef, Q, QuerySet, Value
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext as _

from readingcenter.accounts.models import Privilege, RadiologistProfile, Role, Shift, User
from readingcenter.accounts.selectors import (
    on_duty_ids,
    privileged_hospital_ids,
    radiologists_privileged_at,
    today_utc,
)
from readingcenter.errors import NotFound
from readingcenter.studies.models import Priority, Study, StudyStatus
from readingcenter.worklist.models import (
    CLAIMED_STATES,
    OPEN_STATES,
    AssignmentDecision,
    Case,
    CaseState,
)

# The reading order, matching the partial index case_worklist_order_idx column for column.
WORKLIST_ORDER = ("priority_rank", "due_at", F("ai_score").desc(), "arrived_at", "id")
# The same order walked backwards (the index read from its end): the page before a position.
WORKLIST_ORDER_REVERSED = ("-priority_rank", "-due_at", "ai_score", "-arrived_at", "-id")
# A case's place in that order: what a keyset cursor holds.
POSITION_FIELDS = ("priority_rank", "due_at", "ai_score", "arrived_at", "id")

CASE_COLUMNS = ("id", "state", "priority", "priority_rank", "hospital_id", "study_id", "modality",
                "modalities", "body_part", "subspecialty", "ai_score", "ai_flagged", "ai_note",
                "arrived_at", "due_at", "at_risk_at", "claimed_by_id", "claimed_at",
                "last_activity_at", "preliminary_at", "signed_at")  # fmt: skip
STUDY_COLUMNS = tuple(
    f"study__{name}"
    for name in (
        "study_instance_uid",
        "accession_number",
        "patient_name",
        "patient_id",
        "patient_sex",
        "patient_birth_date",
        "study_date",
        "study_description",
        "priority_reason",
        "instance_count",
    )
)
HOSPITAL_COLUMNS = ("hospital__code", "hospital__name")
READER_COLUMNS = ("claimed_by__username", "claimed_by__first_name", "claimed_by__last_name")

FILTERS = ("modality", "body_part", "subspecialty", "hospital", "priority", "state", "ai", "mine")


# A radiologist's hospitals are read first and go into the worklist's queries as a list of ids,
# not as a subquery: with the subquery PostgreSQL spent 1.6 ms planning a page and 0.5 ms
# running it, with the list 0.5 and 0.2 ms (EXPLAIN ANALYZE, 100,000 studies), for one small
# query more. The ids are today's privileges, read in the same request.
def _visible_cases(user, qs: QuerySet[Case] | None = None) -> QuerySet[Case]:
    """``qs`` (all cases by default) narrowed to what ``user`` may see."""
    qs = Case.objects.all() if qs is None else qs
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        return qs.none()
    if user.is_manager:
        return qs
    if user.is_radiologist:
        return qs.filter(hospital_id__in=privileged_hospital_ids(user))
    # Hospital users follow their studies in the portal, not on the readers' worklist.
    return qs.none()


def _truthy(value) -> bool:
    return str(value).lower() in {"1", "true", "yes", "on"}


def _by_state(qs, state, user):
    if state in CaseState.values:
        return qs.filter(state=state)
    if state == "all":
        return qs
    return qs.filter(state__in=OPEN_STATES)


def _by_priority(qs, value, user):
    try:
        return qs.filter(priority=Priority.parse(value))
    except ValueError:
        return qs.none()


# Each filter a radiologist may set, applied when it has a value: (key, narrow(qs, value, user)).
_FILTERS = (
    ("modality", lambda qs, value, user: qs.filter(modalities__contains=[value.upper()])),
    ("body_part", lambda qs, value, user: qs.filter(body_part__iexact=value)),
    ("subspecialty", lambda qs, value, user: qs.filter(subspecialty=value)),
    ("hospital", lambda qs, value, user: qs.filter(hospital__code=value)),
    ("priority", _by_priority),
    ("ai", lambda qs, value, user: qs.filter(ai_flagged=_truthy(value))),
    ("mine", lambda qs, value, user: qs.filter(claimed_by_id=user.pk) if _truthy(value) else qs),
)


def _filtered(user, filters: dict | None, qs: QuerySet[Case] | None = None) -> QuerySet[Case]:
    filters = filters or {}
    qs = _by_state(_visible_cases(user, qs), filters.get("state"), user)
    for key, narrow in _FILTERS:
        if (value := filters.get(key)) not in (None, ""):
            qs = narrow(qs, value, user)
    return qs


def _resolved_once(build):
    """``build``'s queryset made once per process (on first use, when the models are ready);
    each call returns a copy of it. Naming 35 columns across three joins makes the ORM walk each
    one's path (names_to_path, setup_joins): 0.5-1 ms of Python on every request for the same
    answer. The copy is what keeps it shared safely: a queryset that is evaluated keeps its
    rows, and the shared one is never evaluated. ``.shared`` is that one, for the tests."""
    shared = functools.cache(build)

    @functools.wraps(build)
    def copy() -> QuerySet:
        return shared().all()

    copy.shared = shared
    return copy


# A page's columns and order.
@_resolved_once
def case_rows_projection() -> QuerySet[Case]:
    """Cases as the worklist's model instances: the row with its study, hospital and reader."""
    return (
        Case.objects.select_related("study", "hospital", "claimed_by")
        .only(*CASE_COLUMNS, *STUDY_COLUMNS, *HOSPITAL_COLUMNS, *READER_COLUMNS)
        .order_by(*WORKLIST_ORDER)
    )


@_resolved_once
def case_claim_projection() -> QuerySet[Case]:
    """What "next case" locks and hands out: the row with its study and hospital (its reader
    is the one claiming it)."""
    return (
        Case.objects.select_related("study", "hospital")
        .only(*CASE_COLUMNS, *STUDY_COLUMNS, *HOSPITAL_COLUMNS)
        .order_by(*WORKLIST_ORDER)
    )


@_resolved_once
def case_values_projection() -> QuerySet:
    """The same columns as plain rows (dicts keyed ``study__…``, ``hospital__…``, ...)."""
    return Case.objects.values(
        *CASE_COLUMNS, *STUDY_COLUMNS, *HOSPITAL_COLUMNS, *READER_COLUMNS
    ).order_by(*WORKLIST_ORDER)


def worklist(*, user, filters: dict | None = None) -> QuerySet[Case]:
    """Cases in reading order: priority, SLA deadline, AI score, arrival.

    Without a state filter it is the open worklist (unread, claimed, in report): only signing
    or a manager's removal takes a case off it.
    """
    # Only the columns a worklist row shows: the study table is wide, and a page is 50 rows.
    return _filtered(user, filters, case_rows_projection())


def worklist_rows(*, user, filters: dict | None = None) -> QuerySet:
    """``worklist`` as plain rows (dicts of the same columns, ``study__…``, ``hospital__…``,
    ``claimed_by__…``): what the API serialises, without building four model instances per
    row. Paged with ``after_position``."""
    return _filtered(user, filters, case_values_projection())


def after_position(qs: QuerySet, position: tuple, *, reverse: bool = False) -> QuerySet:
    """The cases after ``position`` (POSITION_FIELDS' values) in reading order, or before it
    (``reverse``, in reversed order): a keyset page, whatever its depth one seek in
    case_worklist_order_idx to (priority_rank, due_at) and a walk from there in index order.
    The two leading columns go as a row comparison (the index's seek); ai_score runs the
    other way, so the cases that share the position's deadline are sorted out by a filter
    (spelled without OR at the top, which the planner would turn into bitmap scans and a
    sort)."""
    rank, due, score, arrived, pk = position
    if reverse:
        seek, less, more, order = LessThanOrEqual, "gt", "lt", WORKLIST_ORDER_REVERSED
    else:
        seek, less, more, order = GreaterThanOrEqual, "lt", "gt", WORKLIST_ORDER
    beyond_on_the_same_deadline = (
        Q(**{f"ai_score__{less}": score})
        | Q(ai_score=score, **{f"arrived_at__{more}": arrived})
        | Q(ai_score=score, arrived_at=arrived, **{f"id__{more}": pk})
    )
    return qs.filter(
        seek(_row(F("priority_rank"), F("due_at")), _row(Value(rank), Value(due))),
        ~(Q(priority_rank=rank, due_at=due) & ~beyond_on_the_same_deadline),
    ).order_by(*order)


def _row(*expressions) -> Func:
    """``ROW(a, b)``: compared with another, PostgreSQL answers ``>=`` or ``<=`` with one seek
    in an index on (a, b, ...); the ORM has no spelling of its own for it."""
    return Func(*expressions, function="ROW", output_field=Field())


def case_get(*, user, case_id: int) -> Case:
    case = (
        _visible_cases(user)
        .select_related("study", "study__order", "hospital", "claimed_by")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        # Another hospital's case and a case that does not exist look the same.
        raise NotFound(_("No such case."))
    return case


def priors_for(case: Case, *, limit: int = 20) -> QuerySet[Study]:
    """Earlier and later studies of the same patient: same hospital, same issuer of patient
    ids, same id (never elsewhere: a PatientID only identifies a patient within the hospital
    and issuer that gave it). Priors fetched from the hospital's PACS are among them."""
    study = case.study
    if not study.patient_id:
        return Study.objects.none()
    return (
        Study.objects.filter(
            hospital_id=case.hospital_id,
            issuer_of_patient_id=study.issuer_of_patient_id,
            patient_id=study.patient_id,
            status=StudyStatus.COMPLETE,
        )
        .exclude(pk=study.pk)
        .select_related("case")
        .order_by("-study_date", "-received_at")[:limit]
    )


def decision_list(*, user, case_id: int | None = None) -> QuerySet[AssignmentDecision]:
    qs = AssignmentDecision.objects.select_related(
        "case", "case__study", "case__hospital", "chosen", "previous"
    )
    if not user.is_manager:
        return qs.none()
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    return qs.order_by("-at", "-id")


def claims_by_reader(*, user) -> QuerySet[Case]:
    """The manager's view of who reads what now."""
    if not user.is_manager:
        return Case.objects.none()
    return (
        Case.objects.filter(state__in=[CaseState.CLAIMED, CaseState.IN_REPORT])
        .select_related("study", "hospital", "claimed_by")
        .order_by("claimed_by__username", *WORKLIST_ORDER)
    )


def _radiologists_with_load() -> QuerySet[User]:
    """Every active radiologist with his open cases counted (the manager's view)."""
    return (
        User.objects.filter(role=Role.RADIOLOGIST, is_active=True)
        .select_related("radiologist_profile")
        .prefetch_related("privileges__hospital")
        .annotate(
            open_cases=Count("claimed_cases", filter=Q(claimed_cases__state__in=CLAIMED_STATES))
        )
        .order_by("last_name", "username")
    )


def radiologist_rows(*, at=None) -> list[dict]:
    """Every active radiologist: privileges (valid today or not), duty, and current load."""
    day, on_duty = today_utc(), on_duty_ids(at=at)
    rows = []
    for user in _radiologists_with_load():
        profile = getattr(user, "radiologist_profile", None)
        rows.append(
            {
                "id": user.id,
                "username": user.get_username(),
                "get_full_name": user.get_full_name() or user.get_username(),
                "subspecialties": list(profile.subspecialties) if profile else [],
                "modalities": list(profile.modalities) if profile else [],
                "on_duty": user.id in on_duty,
                "open_cases": user.open_cases,
                "privileges": [
                    {
                        "hospital": p.hospital,
                        "licence_number": p.licence_number,
                        "valid_from": p.valid_from,
                        "valid_until": p.valid_until,
                        "valid_today": p.is_valid_on(day),
                    }
                    for p in user.privileges.all()
                ],
            }
        )
    return rows


# -- who may read a case --------------------------------------------------------------------------


def radiologist_profile(user) -> RadiologistProfile | None:
    try:
        return user.radiologist_profile
    except RadiologistProfile.DoesNotExist:
        return None


def _eligibility(case: Case, user: User, *, on_duty: set[int], load: int) -> dict:
    profile = radiologist_profile(user)
    modality_ok = profile is None or profile.reads_modality(case.modalities)
    subspecialty_ok = profile is None or profile.reads_subspecialty(case.subspecialty)
    why = []
    if user.id not in on_duty:
        why.append("off duty")
    if not modality_ok:
        why.append(f"does not read {case.modality or 'this modality'}")
    if not subspecialty_ok:
        why.append(f"not {case.subspecialty}")
    return {
        "user_id": user.id,
        "username": user.get_username(),
        "load": load,
        "on_duty": user.id in on_duty,
        "modality": modality_ok,
        "subspecialty": subspecialty_ok,
        "eligible": not why,
        "why": ", ".join(why) or "eligible",
    }


def _loads() -> dict[int, int]:
    return dict(
        Case.objects.filter(state__in=CLAIMED_STATES)
        .values("claimed_by")
        .annotate(n=Count("id"))
        .values_list("claimed_by", "n")
    )


def case_readers(case: Case, *, users=None, loads: bool = True) -> list[tuple[User, dict]]:
    """Who may read this case: the radiologists privileged at its hospital today (or the given
    ``users``), each with the row an assignment decision records (``AssignmentDecision
    .candidates``): on duty now, reads the modality, reads the subspecialty, eligible (all
    three) or why not, and his load (the cases he holds; 0 with ``loads=False``, for a caller
    that does not rank by it and need not count)."""
    on_duty = on_duty_ids()
    counts = _loads() if loads else {}
    people = list(radiologists_privileged_at(case.hospital_id) if users is None else users)
    return [
        (user, _eligibility(case, user, on_duty=on_duty, load=counts.get(user.id, 0)))
        for user in people
    ]


# -- coverage: cases nobody on duty may read ------------------------------------------------------


def _readers_on_duty(*, now) -> list[tuple[int, RadiologistProfile]]:
    """(hospital id, what he reads) for each valid privilege of each radiologist on duty now;
    one query. A radiologist without a profile reads everything (a generalist)."""
    on_duty = Shift.objects.filter(radiologist_id=OuterRef("radiologist_id"), starts_at__lte=now,
                                   ends_at__gt=now)  # fmt: skip
    rows = (
        Privilege.objects.filter(
            Privilege.valid_on_q(now.date()),
            Exists(on_duty),
            radiologist__role=Role.RADIOLOGIST,
            radiologist__is_active=True,
        )
        .values_list(
            "hospital_id",
            "radiologist__radiologist_profile__modalities",
            "radiologist__radiologist_profile__subspecialties",
        )
        .order_by()
    )
    return [
        (hospital_id, RadiologistProfile(modalities=mods or [], subspecialties=subs or []))
        for hospital_id, mods, subs in rows
    ]


def uncovered_groups(*, now=None) -> list[dict]:
    """The unread cases no radiologist on duty may read now (privileged at the hospital today,
    reading the modality and the subspecialty: the eligibility rule of auto-assignment and of
    "next case"), grouped by hospital, modalities, subspecialty and priority with their count.
    Two queries, whatever the size of the queue: such cases are on no reader's "next case"
    and no escalation tier that tells readers on duty reaches anyone."""
    now = now or timezone.now()
    readers = _readers_on_duty(now=now)
    groups = (
        Case.objects.filter(state=CaseState.UNREAD)
        .values(
            "hospital_id",
            "hospital__code",
            "hospital__name",
            "modalities",
            "subspecialty",
            "priority",
        )
        .annotate(count=Count("id"))
        .order_by()
    )
    return [
        group
        for group in groups
        if not any(
            hospital_id == group["hospital_id"]
            and profile.reads_modality(group["modalities"])
            and profile.reads_subspecialty(group["subspecialty"])
            for hospital_id, profile in readers
        )
    ]


def uncovered_cases(*, groups: list[dict] | None = None, now=None) -> QuerySet[Case]:
    """The cases of ``uncovered_groups`` (computed here when not given), most urgent first."""
    groups = uncovered_groups(now=now) if groups is None else groups
    if not groups:
        return Case.objects.none()
    match = Q()
    for group in groups:
        match |= Q(hospital_id=group["hospital_id"], modalities=group["modalities"],
                   subspecialty=group["subspecialty"], priority=group["priority"])  # fmt: skip
    return Case.objects.filter(match, state=CaseState.UNREAD).order_by(*WORKLIST_ORDER)
