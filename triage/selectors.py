"""Reads of what the AI said, for the apps above triage (worklist, reports) and its own hooks."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from triage.models import INPUT_CHECK_KEY, RunStatus, TriageAwaiting, TriageRun


def _runs_now(study) -> QuerySet[TriageRun]:
    """The runs on the study's current version; none, and no query, before its first
    completion (triage runs on completed versions, from 1)."""
    if not study.version:
        return TriageRun.objects.none()
    return TriageRun.objects.filter(study_id=study.pk, study_version=study.version)


def triage_runs_succeeded(study) -> QuerySet[TriageRun]:
    """The succeeded runs on the study as it is now (its current version), one per model version.

    A run on an earlier version says nothing about the series that came since, and a failed or
    not-applicable run has no findings: the worklist's AI score, the report's AI draft and the
    AI priority signal all read only these. Callers order or narrow the columns as they need.
    """
    return _runs_now(study).filter(status=RunStatus.SUCCEEDED)


# The runs on the study as it is now whose model was made for it but did not speak: low
# confidence (the images fall outside what the model was validated on) and not applicable by
# an input check (a localizer, a contrast study for a non-contrast model). The radiologist is
# told "AI not applied" and why, so that the AI's silence is never read as a negative. A
# not-applicable run without an input check (a CT model on a radiograph) is left out: it is
# true of every study of another kind and says nothing worth showing.
_WITHHELD = Q(status=RunStatus.LOW_CONFIDENCE) | Q(
    status=RunStatus.NOT_APPLICABLE, detail__has_key=INPUT_CHECK_KEY
)


def triage_runs_succeeded_and_withheld(study) -> tuple[list[TriageRun], list[TriageRun]]:
    """The succeeded runs on the study as it is now, and the withheld ones (above), each by
    model name, in one query: the worklist reads both whenever a study's case follows it, in
    the ingest and triage transactions."""
    runs = _runs_now(study).filter(Q(status=RunStatus.SUCCEEDED) | _WITHHELD)
    runs = list(
        runs.order_by("model_name", "id").only(
            "model_name", "status", "reason", "probabilities", "flags"
        )
    )
    succeeded = [run for run in runs if run.status == RunStatus.SUCCEEDED]
    return succeeded, [run for run in runs if run.status != RunStatus.SUCCEEDED]


# -- a model card, as the model page shows it ----------------------------------------------

_FIGURES = ("auc", "sensitivity", "specificity")


def _is_family(node) -> bool:
    return isinstance(node, dict) and isinstance(node.get("auc"), int | float)


def _validation_row(node: dict, label: str) -> dict:
    return {
        "family": label,
        "dataset": node.get("dataset", ""),
        "n": node.get("n"),
        "n_positive": node.get("n_positive"),
        "threshold": node.get("threshold"),
        **{key: node.get(key) for key in _FIGURES},
        **{f"{key}_ci95": node.get(f"{key}_ci95") for key in _FIGURES},
        "withheld": node.get("withheld"),
    }


def _validation_rows(node, label: str, depth: int = 0) -> list[dict]:
    """Every validation family in the card (an object with an "auc"), wherever it sits: the
    cards name their families freely (held_out, shifted, ...), so none is assumed."""
    if depth > 3:
        return []
    if isinstance(node, list):
        return [
            row
            for index, item in enumerate(node)
            for row in _validation_rows(
                item,
                (item.get("name") or item.get("family") if isinstance(item, dict) else None)
                or f"{label}[{index}]",
                depth + 1,
            )
        ]
    if not isinstance(node, dict):
        return []
    rows = [_validation_row(node, label)] if depth > 0 and _is_family(node) else []
    for key, value in node.items():
        # How the threshold was chosen and the goal the families are held to carry figures of
        # their own, but they are not data a model was measured on.
        if isinstance(value, dict | list) and key not in ("threshold_selection", "goal"):
            rows += _validation_rows(value, key, depth + 1)
    return rows


def model_card_summary(card: dict) -> dict:
    """What a manager reads about a version: intended use, findings and their operating
    points, calibration, and the validation table, from the card as it was loaded."""
    validation = card.get("validation") if isinstance(card.get("validation"), dict) else {}
    calibration = card.get("calibration") if isinstance(card.get("calibration"), dict) else {}
    return {
        "intended_use": card.get("intended_use", ""),
        "label": card.get("label", ""),
        "not_for_clinical_use": bool(card.get("not_for_clinical_use")),
        "applicability": card.get("applicability") or {},
        "findings": [f for f in card.get("findings") or [] if isinstance(f, dict)],
        "calibration": calibration,
        "training_data": card.get("training_data", ""),
        "validation_summary": validation.get("summary", ""),
        "threshold_selection": validation.get("threshold_selection") or {},
        # The families the card names; a card with one set of top-level figures only (the
        # older form) is that one row.
        # (in name order: the card is stored as jsonb, which keeps no key order).
        "validation": sorted(
            _validation_rows(validation, "validation")
            or ([_validation_row(validation, "validation")] if _is_family(validation) else []),
            key=lambda row: row["family"],
        ),
        "monitoring": card.get("monitoring") or {},
        "novelty": _novelty_summary(card.get("novelty")),
    }


def _novelty_summary(section) -> dict:
    """The card's novelty record as a manager reads it: the rule, and per validation source
    how many studies (and true findings) it withheld; empty for a card without one."""
    if not isinstance(section, dict) or not section.get("file"):
        return {}
    sources = section.get("sources") if isinstance(section.get("sources"), dict) else {}
    return {
        "rule": section.get("rule", ""),
        "limit": section.get("limit"),
        "fitted_on": section.get("fitted_on", ""),
        "sources": [
            {"source": name, **figures}
            for name, figures in sorted(sources.items())
            if isinstance(figures, dict)
        ],
    }


def triage_awaiting_for(study) -> list[tuple[str, str]]:
    """The paused model versions this study, as it is now, waits for: (name, version)."""
    return list(
        TriageAwaiting.objects.filter(study_id=study.pk, study_version=study.version)
        .order_by("model_name", "model_version")
        .values_list("model_name", "model_version")
    )
