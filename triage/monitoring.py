"""Live monitoring of each model version: reads only (the alarm pass, triage.alarms, writes).

Per model version, computed from the recorded runs on each ask (nothing cached):

- **Positive rate** over the last hour and the last day: of the succeeded runs (the only ones
  that may flag), the share that flagged anything, against the card's
  ``monitoring.expected_positive_rate``. Its band is ``[expected / alert_factor, expected x
  alert_factor]``, judged only over at least ``min_studies`` succeeded runs in the window: a
  rate above it is an alarm (a model that escalates everything), one below it a warning (a
  model that may have gone quiet). Low-confidence, not-applicable and failed runs are counted
  beside it: a model that suddenly withholds most studies is worth seeing too.
- **Score drift**: the population stability index (PSI) of the last day's probabilities per
  finding against the version's reference distribution, in deciles of the reference.
- **Agreement with signed reports** is not here: analytics computes it per model version
  (``analytics.selectors.ai_performance``) and the model page reads it there.

Why the drift reference is the version's own first runs: the card's validation sets are
synthetic and half positive, so their score distribution says nothing of what this reading
center's studies look like, and comparing production to them would show "drift" from the
first day. The first ``REFERENCE_RUNS`` succeeded runs are the population the version met
when it went live; drift is change since then, which is what a silent scanner upgrade or a
new hospital's protocol produces. A card may carry a reference of its own
(``monitoring.reference_scores``: ``{finding code: [probabilities]}``, for instance scores
on a sample that looks like production), which then wins. A version wrong from its first
day shows no drift against itself: the positive-rate band is what catches that.

PSI rather than a KS test: it reads the same on 50 studies as on 5,000 (a KS p-value turns
"significant" for a negligible shift once there are thousands), and its customary cut-offs
(below 0.1 stable, 0.1 to 0.25 a moderate shift, above 0.25 a major one) are what model-risk
teams already use.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from triage.models import (
    AlarmKind,
    AlarmWindow,
    ModelAlarm,
    ModelVersion,
    RunStatus,
    TriageAwaiting,
    TriageRun,
)

WINDOWS: dict[str, dt.timedelta] = {
    AlarmWindow.HOUR: dt.timedelta(hours=1),
    AlarmWindow.DAY: dt.timedelta(days=1),
}
# What a card without a "monitoring" object is held to (and the page says so): about one
# study in ten flagged, an alarm above three times that over at least 50 studies. A deliberately
# wide band: it catches a model that flags most studies, as head-ct-ich 1.0.0 did on images it
# had not seen, without crying wolf over a busy trauma night.
DEFAULT_EXPECTED_POSITIVE_RATE = 0.10
DEFAULT_ALERT_FACTOR = 3.0
DEFAULT_MIN_STUDIES = 50
# The drift reference: the version's first succeeded runs (see the module's docstring).
REFERENCE_RUNS = 200
# A card's own reference needs at least this many scores per finding to be used.
MIN_CARD_REFERENCE = 20
PSI_BINS = 10
# An empty bin would make the PSI infinite; a share this small stands in for zero.
PSI_FLOOR = 1e-4
PSI_MODERATE, PSI_MAJOR = 0.1, 0.25
# How long the dashboard keeps showing an alarm after it fired.
RECENT_ALARMS = dt.timedelta(days=1)
# A version no worker has reported loaded for this long is shown as no longer loaded.
LOADED_RECENTLY = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Expectations:
    """What the card says production should see, with the defaults where it says nothing."""

    expected_positive_rate: float
    alert_factor: float
    min_studies: int
    # Which of the three came from the card (the page names the defaulted ones).
    from_card: tuple[str, ...] = ()
    # The share of the studies it was made for that the novelty check may withhold before the
    # managers hear of it. In validation it withholds none of the look it was fitted on, so a
    # quarter is not noise: a hospital's images have changed.
    max_withheld_share: float = 0.25

    @property
    def defaults_used(self) -> bool:
        return len(self.from_card) < 3

    @property
    def high(self) -> float:
        return min(1.0, self.expected_positive_rate * self.alert_factor)

    @property
    def low(self) -> float:
        return self.expected_positive_rate / self.alert_factor


def expectations(card: Mapping) -> Expectations:
    """The card's ``monitoring`` object (validated when the package loaded), with defaults."""
    monitoring = card.get("monitoring") or {}
    found = tuple(
        key
        for key in ("expected_positive_rate", "alert_factor", "min_studies")
        if monitoring.get(key) is not None
    )
    return Expectations(
        expected_positive_rate=float(
            monitoring.get("expected_positive_rate") or DEFAULT_EXPECTED_POSITIVE_RATE
        ),
        alert_factor=float(monitoring.get("alert_factor") or DEFAULT_ALERT_FACTOR),
        min_studies=int(monitoring.get("min_studies") or DEFAULT_MIN_STUDIES),
        from_card=found,
    )


@dataclass
class WindowFigures:
    """One model version's runs in one trailing window ``[start, end)``."""

    window: str
    start: dt.datetime
    end: dt.datetime
    studies: int = 0  # succeeded runs: the rate's denominator
    positives: int = 0
    low_confidence: int = 0
    not_applicable: int = 0
    failed: int = 0

    @property
    def label(self) -> str:
        return AlarmWindow(self.window).label

    @property
    def rate(self) -> float | None:
        return self.positives / self.studies if self.studies else None

    @property
    def made_for(self) -> int:
        """Runs on studies the model was made for: scored, or withheld as low confidence."""
        return self.studies + self.low_confidence

    @property
    def withheld_share(self) -> float | None:
        return self.low_confidence / self.made_for if self.made_for else None

    def too_many_withheld(self, expected: Expectations) -> bool:
        """More than ``expected.max_withheld_share`` of enough studies withheld."""
        share = self.withheld_share
        return (
            self.made_for >= expected.min_studies
            and share is not None
            and share > expected.max_withheld_share
        )

    def out_of_band(self, expected: Expectations) -> str | None:
        """AlarmKind.HIGH or LOW when the rate left its band over enough studies, else None."""
        if self.studies < expected.min_studies or self.rate is None:
            return None
        if self.rate > expected.high:
            return AlarmKind.HIGH
        if self.rate < expected.low:
            return AlarmKind.LOW
        return None


@dataclass
class Drift:
    """One finding's score distribution today against the version's reference."""

    finding: str
    source: str  # "card" or "first runs"
    reference_n: int
    current_n: int
    psi: float | None = None
    # (upper edge of the bin or None for the last, reference share, today's share)
    bins: list[tuple[float | None, float, float]] = field(default_factory=list)
    note: str = ""

    @property
    def level(self) -> str:
        if self.psi is None:
            return "not enough data"
        if self.psi < PSI_MODERATE:
            return "stable"
        return "moderate shift" if self.psi < PSI_MAJOR else "major shift"


@dataclass
class VersionMonitoring:
    version: ModelVersion
    expected: Expectations
    windows: list[WindowFigures]
    drift: list[Drift]
    alarms: list[ModelAlarm]
    awaiting: int
    loaded: bool

    @property
    def out_of_band(self) -> list[tuple[WindowFigures, str]]:
        found = [(w, w.out_of_band(self.expected)) for w in self.windows]
        found += [
            (w, AlarmKind.WITHHELD) for w in self.windows if w.too_many_withheld(self.expected)
        ]
        return [(w, kind) for w, kind in found if kind]

    @property
    def judged(self) -> list[tuple[WindowFigures, str]]:
        """Each window with its reading: "high", "low", "in band" or "too few"."""
        return [
            (
                w,
                w.out_of_band(self.expected)
                or ("too few" if w.studies < self.expected.min_studies else "in band"),
            )
            for w in self.windows
        ]


# -- the positive rate --------------------------------------------------------------------


def _figures_sql() -> str:
    columns = []
    for _ in WINDOWS:
        columns += [
            "count(*) filter (where created_at >= %s and status = 'succeeded')",
            "count(*) filter (where created_at >= %s and status = 'succeeded' and flagged)",
            "count(*) filter (where created_at >= %s and status = 'low_confidence')",
            "count(*) filter (where created_at >= %s and status = 'not_applicable')",
            "count(*) filter (where created_at >= %s and status = 'failed')",
        ]
    # Each window's columns filter the widest window's rows (the created_at index serves the
    # range); a run flagged anything when one of its flags is true.
    return f"""
        select model_name, model_version, {", ".join(columns)}
        from (
            select model_name, model_version, status, created_at,
                   exists(select 1 from jsonb_each(flags) f where f.value = 'true') as flagged
            from {TriageRun._meta.db_table}
            where created_at >= %s and created_at < %s
        ) r
        group by 1, 2
    """  # noqa: S608 - the table name is ours, every value a parameter


def window_figures(*, now: dt.datetime) -> dict[tuple[str, str], list[WindowFigures]]:
    """Per (model name, version) with runs in the widest window: its figures per window,
    in WINDOWS order. One query."""
    starts = {name: now - length for name, length in WINDOWS.items()}
    params = [start for start in starts.values() for _ in range(5)]
    params += [min(starts.values()), now]
    with connection.cursor() as cursor:
        cursor.execute(_figures_sql(), params)
        rows = cursor.fetchall()
    found = {}
    for name, version, *counts in rows:
        figures = []
        for index, (window, start) in enumerate(starts.items()):
            part = counts[5 * index : 5 * index + 5]
            figures.append(WindowFigures(window, start, now, *part))
        found[(name, version)] = figures
    return found


# -- drift ----------------------------------------------------------------------------------


def _shares(values: list[float], edges: list[float]) -> list[float]:
    counts = [0] * (len(edges) + 1)
    for value in values:
        # Bins are (-inf, e1], (e1, e2], ..., (ek, +inf): a score equal to an edge goes left,
        # so a reference piled up on one value (many near-zero scores) keeps its own bin.
        counts[bisect.bisect_left(edges, value)] += 1
    return [max(count / len(values), PSI_FLOOR) for count in counts]


def population_stability_index(
    reference: list[float], current: list[float], *, bins: int = PSI_BINS
) -> tuple[float, list[tuple[float | None, float, float]]]:
    """PSI = sum over bins of (current - reference) * ln(current / reference), the bins being
    the reference's quantiles (ties merged). Returns the index and the bins' shares."""
    ordered = sorted(reference)
    # The i-th cut is the largest of the lowest i/bins of the reference.
    cuts = [ordered[max(0, (len(ordered) * i) // bins - 1)] for i in range(1, bins)]
    # Ties merged; a cut at the reference's maximum leaves a last bin the reference never
    # reached, which is kept: scores above everything the version used to give are drift.
    edges = sorted(set(cuts))
    expected, actual = _shares(ordered, edges), _shares(current, edges)
    psi = sum((a - e) * math.log(a / e) for e, a in zip(expected, actual, strict=True))
    uppers: list[float | None] = [*edges, None]
    return psi, list(zip(uppers, expected, actual, strict=True))


def _scores(rows, codes) -> dict[str, list[float]]:
    found: dict[str, list[float]] = defaultdict(list)
    for probabilities in rows:
        for code in codes:
            value = (probabilities or {}).get(code)
            if isinstance(value, int | float):
                found[code].append(float(value))
    return found


def _card_reference(card: Mapping) -> dict[str, list[float]]:
    scores = (card.get("monitoring") or {}).get("reference_scores") or {}
    if not isinstance(scores, Mapping):
        return {}
    return {
        code: [float(v) for v in values if isinstance(v, int | float)]
        for code, values in scores.items()
        if isinstance(values, list)
        and sum(isinstance(v, int | float) for v in values) >= MIN_CARD_REFERENCE
    }


def _finding_codes(card: Mapping) -> list[str]:
    return [f.get("code") for f in card.get("findings") or [] if isinstance(f, Mapping)]


def _first_runs(versions: list[ModelVersion]) -> dict[int, list[dict]]:
    """The first REFERENCE_RUNS succeeded runs' probabilities of each version: one query, a
    short index scan per version (triage_run_model_time_idx)."""
    if not versions:
        return {}
    sql = f"""
        select v.id, r.probabilities
        from {ModelVersion._meta.db_table} v
        cross join lateral (
            select t.probabilities from {TriageRun._meta.db_table} t
            where t.model_name = v.model_name and t.model_version = v.model_version
              and t.status = %s
            order by t.created_at, t.id
            limit %s
        ) r
        where v.id = any(%s)
    """  # noqa: S608 - the table names are ours, every value a parameter
    found: dict[int, list[dict]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute(sql, [RunStatus.SUCCEEDED, REFERENCE_RUNS, [v.pk for v in versions]])
        for version_id, probabilities in cursor.fetchall():
            # A raw cursor hands jsonb over as its text.
            found[version_id].append(
                json.loads(probabilities) if isinstance(probabilities, str) else probabilities
            )
    return found


def _drift_of(version, current, first_runs, expected: Expectations) -> list[Drift]:
    card_reference = _card_reference(version.card)
    first = _scores(first_runs, _finding_codes(version.card))
    found = []
    for code in _finding_codes(version.card):
        if code in card_reference:
            source, reference = "card", card_reference[code]
        else:
            source, reference = "first runs", first.get(code, [])
        today = current.get(code, [])
        drift = Drift(code, source, len(reference), len(today))
        if source == "first runs" and len(reference) < REFERENCE_RUNS:
            drift.note = f"collecting the reference: {len(reference)} of {REFERENCE_RUNS} runs"
        elif len(today) < expected.min_studies:
            drift.note = f"{len(today)} runs today; at least {expected.min_studies} are compared"
        else:
            drift.psi, drift.bins = population_stability_index(reference, today)
        found.append(drift)
    return found


def _current_scores(versions: list[ModelVersion], now) -> dict[tuple[str, str], list[dict]]:
    rows = TriageRun.objects.filter(
        created_at__gte=now - WINDOWS[AlarmWindow.DAY],
        created_at__lt=now,
        status=RunStatus.SUCCEEDED,
        model_name__in={v.model_name for v in versions},
    ).values_list("model_name", "model_version", "probabilities")
    found: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for name, version, probabilities in rows:
        found[(name, version)].append(probabilities)
    return found


# -- everything about the versions, for the dashboard, the model page and the alarm pass -----


def model_versions_monitoring(
    *, now: dt.datetime | None = None, versions=None
) -> list[VersionMonitoring]:
    """Every registered model version (or those given) with its figures, drift, recent alarms
    and the studies awaiting it: a fixed handful of queries whatever the number of versions."""
    now = now or timezone.now()
    versions = list(ModelVersion.objects.all() if versions is None else versions)
    if not versions:
        return []
    figures = window_figures(now=now)
    current = _current_scores(versions, now)
    first = _first_runs(versions)
    alarms: dict[int, list[ModelAlarm]] = defaultdict(list)
    for alarm in ModelAlarm.objects.filter(
        model_version__in=versions, fired_at__gte=now - RECENT_ALARMS, fired_at__lte=now
    ):
        alarms[alarm.model_version_id].append(alarm)
    awaiting = _awaiting_counts(versions)
    found = []
    for version in versions:
        key = (version.model_name, version.model_version)
        expected = expectations(version.card)
        windows = figures.get(key) or [
            WindowFigures(name, now - length, now) for name, length in WINDOWS.items()
        ]
        codes = _finding_codes(version.card)
        found.append(
            VersionMonitoring(
                version=version,
                expected=expected,
                windows=windows,
                drift=_drift_of(
                    version,
                    _scores(current.get(key, []), codes),
                    first.get(version.pk, []),
                    expected,
                ),
                alarms=alarms.get(version.pk, []),
                awaiting=awaiting.get(key, 0),
                loaded=bool(version.last_seen_at and version.last_seen_at >= now - LOADED_RECENTLY),
            )
        )
    return found


def _awaiting_counts(versions: list[ModelVersion]) -> dict[tuple[str, str], int]:
    rows = (
        TriageAwaiting.objects.filter(model_name__in={v.model_name for v in versions})
        .values("model_name", "model_version")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(r["model_name"], r["model_version"]): r["n"] for r in rows}


def model_version_get(*, model_name: str, model_version: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(model_name=model_name, model_version=model_version).first()


def model_version_history(version: ModelVersion):
    """Its pauses and resumes, newest first."""
    return version.changes.select_related("actor").order_by("-at", "-id")


def model_version_alarms(version: ModelVersion):
    """Every alarm it ever fired, newest first, with the managers told."""
    return version.alarms.prefetch_related("notifications").order_by("-fired_at", "-id")
