"""Turnaround analytics: reads only, each already narrowed to what the user may see.

Who sees what (``_scope``): managers every hospital; a hospital user his own hospital only (the
hospital portal reuses these selectors); a radiologist the cases he read himself; anybody else
nothing. A filter can only narrow that scope, never widen it. Who read what is the reading
center's own business: a hospital user gets no per-radiologist figures (empty lists).

The definitions, in one place:

- A case counts in a period when its **final** report was signed in it (``signed_at`` in
  ``[start, end)``): the period's delivered work. Open cases have no turnaround yet.
- TAT final = ``signed_at - arrived_at``; TAT preliminary = ``preliminary_at - arrived_at``,
  over the cases that had a preliminary. ``arrived_at`` is the SLA clock's start (the study's
  first completion). Minutes, continuous percentiles (PostgreSQL ``percentile_cont``, the
  same interpolation as ``numpy.percentile``'s default).
- A case met its SLA when its clock stopped by ``due_at``. ``due_at`` is the deadline set when
  the case arrived (business hours included, computed by the SLA app), so a later change of
  target does not rewrite history. What stops the clock is the policy's ``clock_end``, as the
  SLA app's ``clock_stopped_at`` reads it: the final report, or for a to-preliminary promise
  the first of preliminary and final (``_STOP``). No policy: the final.
- The radiologist of a case is its reader (``claimed_by``): only the claimer signs, and
  signing keeps the claim on the row.
- Hour of day is the hour the study **arrived**, in each case's own hospital's time zone
  (what a hospital's staffing looks like), unless a zone is given (the user's, on the pages).

Everything is aggregated by PostgreSQL (one query per figure set, partial covering indexes in
migration 0002), so a month of a million-study archive costs a range scan, not a Python loop.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from readingcenter.errors import DomainError, NotFound
from readingcenter.hospitals.models import Hospital
from readingcenter.hospitals.selectors import hospital_by_code
from readingcenter.sla.selectors import sla_target
from readingcenter.studies.models import Priority

PERCENTILES = (0.5, 0.9, 0.95)
DIMENSIONS = ("hospital", "modality", "priority", "radiologist", "hour")


# -- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Half-open ``[start, end)``, aware datetimes."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def month(cls, year: int, month: int, zone: str = "UTC") -> Period:
        """A calendar month in a time zone (a hospital's month starts at its own midnight)."""
        tz = zoneinfo.ZoneInfo(zone)
        start = dt.datetime(year, month, 1, tzinfo=tz)
        end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
        return cls(start, end)

    @classmethod
    def parse_month(cls, text: str, zone: str = "UTC") -> Period:
        try:
            year, month = (int(part) for part in text.split("-"))
            return cls.month(year, month, zone)
        except (ValueError, TypeError):
            message = _("A month is written YYYY-MM.")
            raise DomainError("month_invalid", message, field="month") from None

    @classmethod
    def days(cls, first: dt.date, last: dt.date, zone: str = "UTC") -> Period:
        """From the start of ``first`` to the end of ``last``, inclusive, in a time zone."""
        if last < first:
            raise DomainError("period_invalid", _("The period ends before it starts."), field="to")
        tz = zoneinfo.ZoneInfo(zone)
        start = dt.datetime.combine(first, dt.time(), tzinfo=tz)
        end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        return cls(start, end)

    @classmethod
    def last_days(cls, days: int = 30, *, zone: str = "UTC", now=None) -> Period:
        today = timezone.localtime(now or timezone.now(), zoneinfo.ZoneInfo(zone)).date()
        return cls.days(today - dt.timedelta(days=days - 1), today, zone)


@dataclass(frozen=True)
class Filters:
    hospital: str = ""  # hospital code
    modality: str = ""
    priority: str = ""
    radiologist: int | None = None

    @classmethod
    def from_query(cls, query) -> Filters:
        radiologist = (query.get("radiologist") or "").strip()
        if radiologist and not radiologist.isdigit():
            raise DomainError("invalid", _("radiologist is a user id."), field="radiologist")
        priority = (query.get("priority") or "").strip().lower()
        if priority and priority not in Priority.values:
            raise DomainError(
                "invalid", _("priority is stat, urgent or routine."), field="priority"
            )
        return cls(
            hospital=(query.get("hospital") or "").strip(),
            modality=(query.get("modality") or "").strip().upper(),
            priority=priority,
            radiologist=int(radiologist) if radiologist else None,
        )


# -- outputs ---------------------------------------------------------------------------------


@dataclass
class TatRow:
    key: str
    label: str
    count: int
    met: int
    final_p50: float | None
    final_p90: float | None
    final_p95: float | None
    preliminary_count: int
    preliminary_p50: float | None
    preliminary_p90: float | None
    preliminary_p95: float | None

    @property
    def compliance(self) -> float | None:
        """Share of cases signed by their due time, 0..1 (None without cases)."""
        return self.met / self.count if self.count else None


@dataclass
class TatBreakdown:
    period: Period
    hour_zone: str  # "hospital" (each case's hospital's zone) or an IANA name
    overall: TatRow
    by_hospital: list[TatRow] = field(default_factory=list)
    by_modality: list[TatRow] = field(default_factory=list)
    by_priority: list[TatRow] = field(default_factory=list)
    by_radiologist: list[TatRow] = field(default_factory=list)
    by_hour: list[TatRow] = field(default_factory=list)


@dataclass
class QueueRow:
    priority: str
    open: int
    oldest_arrived_at: dt.datetime | None
    at_risk: int
    breached: int


@dataclass
class Overview:
    """The dashboard's headline: the open queue now, and the period's delivered work."""

    now: dt.datetime
    queue: list[QueueRow]
    signed: int
    met: int
    compliance_by_hospital: list[TatRow]

    @property
    def compliance(self) -> float | None:
        return self.met / self.signed if self.signed else None


@dataclass
class ProductivityRow:
    radiologist_id: int
    username: str
    name: str
    reads: int
    weighted_reads: int  # reads that matched an RVU weight
    rvu: Decimal
    met: int


@dataclass
class AiRow:
    model_name: str
    model_version: str
    reports: int  # final reports that carried this model's sentences
    sentences: int
    kept: int
    edited: int
    removed: int
    mean_similarity: float | None
    critical_studies: int  # studies with a critical finding on which this model ran
    critical_unflagged: int  # ... and raised no flag at all

    @property
    def confirmed(self) -> int:
        return self.kept + self.edited

    @property
    def confirmed_rate(self) -> float | None:
        return self.confirmed / self.sentences if self.sentences else None

    @property
    def critical_missed_rate(self) -> float | None:
        return self.critical_unflagged / self.critical_studies if self.critical_studies else None


@dataclass
class AiPerformance:
    rows: list[AiRow]
    critical_reports: int  # final reports with at least one critical finding
    critical_without_ai: int  # ... whose AI draft had no sentence (no model flagged anything)


@dataclass
class Breach:
    case_id: int
    accession_number: str
    patient_id: str
    priority: str
    arrived_at: dt.datetime
    due_at: dt.datetime
    # When the report that stops its clock was signed: the final, or for a to-preliminary
    # promise the first of preliminary and final.
    signed_at: dt.datetime
    minutes_late: float


@dataclass
class SlaReportRow:
    priority: str
    count: int
    target_minutes: int
    p50: float | None
    p90: float | None
    met: int
    clock_end: str = "final"  # what stops the clock: "preliminary" or "final"
    counting: str = "24/7"  # or "business hours"

    @property
    def compliance(self) -> float | None:
        return self.met / self.count if self.count else None


@dataclass
class SlaReport:
    hospital: Hospital
    month: str
    period: Period
    rows: list[SlaReportRow]
    breaches: list[Breach]

    @property
    def count(self) -> int:
        return sum(r.count for r in self.rows)

    @property
    def met(self) -> int:
        return sum(r.met for r in self.rows)


# -- scope and filters, as SQL ---------------------------------------------------------------


def _scope(user, filters: Filters | None, alias: str = "c") -> tuple[list[str], list]:
    """WHERE fragments for ``worklist_case`` rows (alias ``c``) this user may count."""
    where, params = [], []
    if not (user and user.is_authenticated and user.is_active):
        where.append("false")
    elif user.is_manager:
        pass
    elif user.is_hospital_user:
        where.append(f"{alias}.hospital_id = %s")
        params.append(user.hospital_id)
    elif user.is_radiologist:
        where.append(f"{alias}.claimed_by_id = %s")
        params.append(user.id)
    else:
        where.append("false")
    filters = filters or Filters()
    if filters.hospital:
        # The code is a bound parameter; only the table alias is formatted in.
        hospital_id = "(select id from hospitals_hospital where code = %s)"
        where.append(f"{alias}.hospital_id = {hospital_id}")
        params.append(filters.hospital)
    if filters.modality:
        where.append(f"{alias}.modality = %s")
        params.append(filters.modality)
    if filters.priority:
        where.append(f"{alias}.priority = %s")
        params.append(filters.priority)
    if filters.radiologist:
        where.append(f"{alias}.claimed_by_id = %s")
        params.append(filters.radiologist)
    return where, params


def _signed_in(period: Period, alias: str = "c") -> tuple[list[str], list]:
    # state = 'signed' matches the partial indexes' predicate, so the planner can use them.
    return (
        [f"{alias}.state = 'signed'", f"{alias}.signed_at >= %s", f"{alias}.signed_at < %s"],
        [period.start, period.end],
    )


# When the case's clock stopped (readingcenter.sla.selectors.clock_stopped_at in SQL): needs
# ``_POLICY`` joined. least() ignores NULLs, so a final alone stops a to-preliminary clock.
_STOP = (
    "case when p.clock_end = 'preliminary' then least(c.preliminary_at, c.signed_at) "
    "else c.signed_at end"
)
_POLICY = "left join sla_slapolicy p on p.hospital_id = c.hospital_id and p.priority = c.priority"


def _sql(template: str, **parts: str) -> str:
    """A query with the clock's stop and its policy join filled in (no user input here)."""
    return template.format(stop=_STOP, policy=_POLICY, **parts)


def _where(*parts: tuple[list[str], list]) -> tuple[str, list]:
    clauses, params = [], []
    for c, p in parts:
        clauses += c
        params += p
    return " and ".join(clauses) or "true", params


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _minutes(value) -> float | None:
    return None if value is None else round(float(value), 1)


def _three(values) -> tuple:
    values = values or [None, None, None]
    return tuple(_minutes(v) for v in values)


def _check_zone(zone: str | None) -> str | None:
    if zone and zone not in zoneinfo.available_timezones():
        raise DomainError(
            "time_zone_invalid",
            _("%(zone)s is not an IANA time zone.") % {"zone": repr(zone)},
            field="tz",
        )
    return zone or None


# -- TAT percentiles, compliance and volumes -------------------------------------------------

_TAT_SQL = """
    with scoped as (
        -- Minutes and the local hour are computed once per row here, not once per grouping
        -- set in the aggregates below. date_part gives a double; extract(epoch ...) gives a
        -- numeric since PostgreSQL 14, and sorting numerics made percentile_cont 3x slower.
        select c.hospital_id, c.modality, c.priority, c.claimed_by_id,
               {stop} <= c.due_at as met,
               date_part('epoch', c.signed_at - c.arrived_at) / 60 as final_min,
               date_part('epoch', c.preliminary_at - c.arrived_at) / 60 as preliminary_min,
               extract(hour from c.arrived_at at time zone {zone})::int as hour
        from worklist_case c join hospitals_hospital h on h.id = c.hospital_id {policy}
        where {where}
    )
    select grouping(hospital_id), grouping(modality), grouping(priority),
           grouping(claimed_by_id), grouping(hour),
           hospital_id, modality, priority, claimed_by_id, hour,
           count(*),
           count(*) filter (where met),
           percentile_cont(array[0.5, 0.9, 0.95]) within group (order by final_min),
           count(preliminary_min),
           percentile_cont(array[0.5, 0.9, 0.95]) within group (order by preliminary_min)
    from scoped
    group by grouping sets ((), (hospital_id), (modality), (priority), (claimed_by_id), (hour))
"""


def _row(key, label, count, met, final, n_prelim, prelim) -> TatRow:
    return TatRow(str(key), label, count, met, *_three(final), n_prelim, *_three(prelim))


def tat_breakdown(
    *, user, period: Period, filters: Filters | None = None, zone: str | None = None
) -> TatBreakdown:
    """p50/p90/p95 TAT (final and preliminary), compliance and volume: overall and by
    hospital, modality, priority, radiologist and hour of arrival, in one pass over the period.

    ``zone``: None buckets each case by its own hospital's local hour; an IANA name buckets all
    of them in that zone (the pages pass the user's).
    """
    zone = _check_zone(zone)
    where, params = _where(_scope(user, filters), _signed_in(period))
    zone_sql = "%s" if zone else "h.time_zone"
    sql = _sql(_TAT_SQL, zone=zone_sql, where=where)
    rows = _fetch(sql, ([zone] if zone else []) + params)

    names = _hospital_names({r[5] for r in rows if r[5] is not None})
    readers = _user_names({r[8] for r in rows if r[8] is not None})
    empty = _row("all", _("All"), 0, 0, None, 0, None)
    out = TatBreakdown(period=period, hour_zone=zone or "hospital", overall=empty)
    for g_h, g_m, g_p, g_r, g_hour, hosp, mod, prio, reader, hour, *figures in rows:
        if g_h == g_m == g_p == g_r == g_hour == 1:
            out.overall = _row("all", _("All"), *figures)
        elif not g_h:
            code, name = names.get(hosp, (str(hosp), str(hosp)))
            out.by_hospital.append(_row(code, name, *figures))
        elif not g_m:
            out.by_modality.append(_row(mod or "-", mod or _("(none)"), *figures))
        elif not g_p:
            out.by_priority.append(_row(prio, Priority(prio).label, *figures))
        elif not g_r:
            if reader is None or user.is_hospital_user:
                continue  # a signed case always has its reader; a hospital is not told who
            out.by_radiologist.append(_row(reader, readers.get(reader, str(reader)), *figures))
        else:
            out.by_hour.append(_row(hour, f"{hour:02d}:00", *figures))
    out.by_hospital.sort(key=lambda r: r.label)
    out.by_modality.sort(key=lambda r: r.key)
    out.by_priority.sort(key=lambda r: Priority.rank(r.key))
    out.by_radiologist.sort(key=lambda r: r.label)
    out.by_hour = _all_hours(out.by_hour)
    return out


def _all_hours(rows: list[TatRow]) -> list[TatRow]:
    """24 buckets, empty hours included: a chart with a gap says more than a missing bar."""
    have = {int(r.key): r for r in rows}
    return [have.get(h) or _row(h, f"{h:02d}:00", 0, 0, None, 0, None) for h in range(24)]


def _hospital_names(ids) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    return {h.id: (h.code, h.name) for h in Hospital.objects.filter(id__in=ids)}


def _user_names(ids) -> dict[int, str]:
    from readingcenter.accounts.models import User

    if not ids:
        return {}
    return {u.id: u.get_full_name() or u.get_username() for u in User.objects.filter(id__in=ids)}


# -- the dashboard's headline ----------------------------------------------------------------

_QUEUE_SQL = """
    select c.priority, count(*), min(c.arrived_at),
           count(*) filter (where {stop} is null and c.at_risk_at <= %s and c.due_at > %s),
           count(*) filter (where {stop} is null and c.due_at <= %s)
    from worklist_case c {policy}
    where c.state in ('unread', 'claimed', 'in_report') and {where}
    group by c.priority
"""
_COMPLIANCE_SQL = """
    select c.hospital_id, count(*), count(*) filter (where {stop} <= c.due_at)
    from worklist_case c {policy}
    where {where}
    group by c.hospital_id
"""


def overview(
    *, user, period: Period, filters: Filters | None = None, now: dt.datetime | None = None
) -> Overview:
    """Open queue by priority (depth, oldest, at risk, breached) and the period's SLA
    compliance, overall and per hospital: two aggregate queries."""
    now = now or timezone.now()
    where, params = _where(_scope(user, filters))
    queue_rows = _fetch(_sql(_QUEUE_SQL, where=where), [now, now, now, *params])
    by_priority = {r[0]: r for r in queue_rows}
    queue = []
    for p in Priority:
        r = by_priority.get(p.value)
        queue.append(
            QueueRow(p.value, r[1], r[2], r[3], r[4]) if r else QueueRow(p.value, 0, None, 0, 0)
        )
    where, params = _where(_scope(user, filters), _signed_in(period))
    rows = _fetch(_sql(_COMPLIANCE_SQL, where=where), params)
    names = _hospital_names({r[0] for r in rows})
    per_hospital = [
        _row(*names.get(h, (str(h), str(h))), n, met, None, 0, None) for h, n, met in rows
    ]
    per_hospital.sort(key=lambda r: r.label)
    return Overview(
        now=now,
        queue=queue,
        signed=sum(r.count for r in per_hospital),
        met=sum(r.met for r in per_hospital),
        compliance_by_hospital=per_hospital,
    )


# -- radiologist productivity ----------------------------------------------------------------

_PRODUCTIVITY_SQL = """
    select c.claimed_by_id, u.username, trim(u.first_name || ' ' || u.last_name),
           count(*), count(w.rvu), coalesce(sum(w.rvu), 0),
           count(*) filter (where {stop} <= c.due_at)
    from worklist_case c {policy}
    join studies_study s on s.id = c.study_id
    left join studies_order o on o.id = s.order_id
    join accounts_user u on u.id = c.claimed_by_id
    left join lateral (
        -- The most specific active weight: the procedure's own, then modality + body part,
        -- then the modality alone.
        select w.rvu from analytics_rvuweight w
        where w.is_active and (
            (w.procedure <> '' and lower(w.procedure) = lower(coalesce(
                nullif(o.requested_procedure, ''), nullif(s.requested_procedure_description, ''),
                s.study_description)))
            or (w.procedure = '' and w.modality = c.modality
                and (w.body_part = '' or w.body_part = c.body_part)))
        order by (w.procedure <> '') desc, (w.body_part <> '') desc
        limit 1
    ) w on true
    where {where}
    group by c.claimed_by_id, u.username, u.first_name, u.last_name
    order by 6 desc, 4 desc, 2
"""


def productivity(*, user, period: Period, filters: Filters | None = None) -> list[ProductivityRow]:
    """Final reads per radiologist in the period, with their RVU total (a radiologist sees
    his own row only, a hospital user none)."""
    if user.is_hospital_user:
        return []
    where, params = _where(_scope(user, filters), _signed_in(period))
    return [
        ProductivityRow(rid, username, name or username, reads, weighted, Decimal(rvu), met)
        for rid, username, name, reads, weighted, rvu, met in _fetch(
            _sql(_PRODUCTIVITY_SQL, where=where), params
        )
    ]


# -- AI performance against the signed reports -----------------------------------------------

_AI_SQL = """
    with finals as (
        select r.id, r.study_id, r.ai_acceptance, r.critical_findings
        from reports_report r join worklist_case c on c.id = r.case_id
        where r.state = 'signed' and r.kind = 'final'
          and r.signed_at >= %s and r.signed_at < %s and {where}
    ),
    sentences as (
        select e->>'model_name' as model_name, e->>'model_version' as model_version,
               count(distinct f.id) as reports, count(*) as sentences,
               count(*) filter (where e->>'outcome' = 'kept') as kept,
               count(*) filter (where e->>'outcome' = 'edited') as edited,
               count(*) filter (where e->>'outcome' = 'removed') as removed,
               avg((e->>'similarity')::float) as mean_similarity
        from finals f cross join lateral jsonb_array_elements(f.ai_acceptance) e
        group by 1, 2
    ),
    runs as (
        -- Each model version that ran on a study whose final report has a critical finding,
        -- and whether it flagged anything on any version of the study.
        select f.id, t.model_name, t.model_version,
               bool_or(exists(select 1 from jsonb_each(t.flags) x where x.value = 'true'))
                   as flagged
        from finals f
        join triage_triagerun t on t.study_id = f.study_id and t.status = 'succeeded'
        where jsonb_array_length(f.critical_findings) > 0
        group by f.id, t.model_name, t.model_version
    ),
    critical as (
        select model_name, model_version, count(*) as studies,
               count(*) filter (where not flagged) as unflagged
        from runs group by 1, 2
    )
    select coalesce(s.model_name, k.model_name), coalesce(s.model_version, k.model_version),
           coalesce(s.reports, 0), coalesce(s.sentences, 0), coalesce(s.kept, 0),
           coalesce(s.edited, 0), coalesce(s.removed, 0), s.mean_similarity,
           coalesce(k.studies, 0), coalesce(k.unflagged, 0)
    from sentences s
    full join critical k on k.model_name = s.model_name and k.model_version = s.model_version
    order by 1, 2
"""
_AI_TOTALS_SQL = """
    select count(*) filter (where jsonb_array_length(r.critical_findings) > 0),
           count(*) filter (where jsonb_array_length(r.critical_findings) > 0
                              and jsonb_array_length(r.ai_draft) = 0)
    from reports_report r join worklist_case c on c.id = r.case_id
    where r.state = 'signed' and r.kind = 'final'
      and r.signed_at >= %s and r.signed_at < %s and {where}
"""


def ai_performance(*, user, period: Period, filters: Filters | None = None) -> AiPerformance:
    """Per model name + version, over final reports signed in the period: how many AI
    sentences the signed text kept, edited (both: the flag was confirmed) or removed, their
    mean surviving similarity, and on studies with a critical finding, how often the model had
    raised no flag (a critical finding is free text: "missed" is per study, not per finding).
    """
    where, params = _where(_scope(user, filters))
    head = [period.start, period.end]
    rows = []
    for name, version, *counts, sim, studies, unflagged in _fetch(
        _AI_SQL.format(where=where), head + params
    ):
        similarity = None if sim is None else round(float(sim), 3)
        rows.append(AiRow(name or "", version or "", *counts, similarity, studies, unflagged))
    critical, without = _fetch(_AI_TOTALS_SQL.format(where=where), head + params)[0]
    return AiPerformance(rows=rows, critical_reports=critical, critical_without_ai=without)


# -- the monthly SLA report ------------------------------------------------------------------

_SLA_ROWS_SQL = """
    select c.priority, count(*), count(*) filter (where {stop} <= c.due_at),
           percentile_cont(array[0.5, 0.9]) within group
               (order by date_part('epoch', {stop} - c.arrived_at) / 60)
    from worklist_case c {policy}
    where c.hospital_id = %s and c.state = 'signed' and c.signed_at >= %s and c.signed_at < %s
    group by c.priority
"""
_SLA_BREACHES_SQL = """
    select c.id, s.accession_number, s.patient_id, c.priority, c.arrived_at, c.due_at,
           {stop}, date_part('epoch', {stop} - c.due_at) / 60
    from worklist_case c join studies_study s on s.id = c.study_id {policy}
    where c.hospital_id = %s and c.state = 'signed' and c.signed_at >= %s and c.signed_at < %s
      and {stop} > c.due_at
    order by c.priority_rank, c.signed_at, c.id
"""


def sla_report_hospital(*, user, hospital_code: str) -> Hospital:
    """The hospital whose report the user may read, or NotFound (another hospital's, too)."""
    hospital = hospital_by_code(hospital_code)
    allowed = hospital is not None and (
        (user.is_active and user.is_manager)
        or (user.is_hospital_user and user.hospital_id == hospital.id)
    )
    if not allowed:
        raise NotFound(_("No such hospital."))
    return hospital


def sla_report(*, user, hospital_code: str, month: str) -> SlaReport:
    """Promised against delivered for one hospital's calendar month (its own time zone), per
    priority, and every breach. Managers: any hospital; a hospital user: his own; else 404.

    "Promised" shows the hospital's current target per priority (minutes, what stops the
    clock, 24/7 or business hours); each case is judged against its own ``due_at``, the
    deadline set when it arrived. p50/p90 here run from arrival to the report that stops the
    clock (the delivered side of the promise); cases count in the month their final report
    was signed.
    """
    hospital = sla_report_hospital(user=user, hospital_code=hospital_code)
    period = Period.parse_month(month, hospital.time_zone)
    head = [hospital.id, period.start, period.end]
    found = {r[0]: r for r in _fetch(_sql(_SLA_ROWS_SQL), head)}
    rows = []
    for p in Priority:
        _, count, met, pcts = found.get(p.value, (p.value, 0, 0, None))
        p50, p90 = (_minutes(v) for v in (pcts or [None, None]))
        target = sla_target(hospital.id, p.value)
        counting = "business hours" if target.calendar is not None else "24/7"
        rows.append(SlaReportRow(p.value, count, target.target_minutes, p50, p90, met,
                                 str(target.clock_end), counting))  # fmt: skip
    breaches = [
        Breach(cid, acc, pid, prio, arrived, due, signed, round(float(late), 1))
        for cid, acc, pid, prio, arrived, due, signed, late in _fetch(_sql(_SLA_BREACHES_SQL), head)
    ]
    return SlaReport(
        hospital=hospital,
        month=f"{period.start.year:04d}-{period.start.month:02d}",
        period=period,
        rows=rows,
        breaches=breaches,
    )
