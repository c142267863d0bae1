from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from readingcenter.quality.models import AIDisagreement


def disagreements_for(*, model_name: str, model_version: str, since) -> QuerySet:
    return AIDisagreement.objects.filter(
        model_name=model_name, model_version=model_version, signed_at__gte=since
    ).select_related("study", "hospital")


@dataclass
class ThresholdHint:
    """What the disagreements say of the threshold: the reader removed flags scored up to
    ``highest_unconfirmed``; findings were missed at scores down to ``lowest_missed``."""

    unconfirmed: int
    missed: int
    highest_unconfirmed: float | None
    lowest_missed: float | None


def threshold_hint(rows) -> ThresholdHint:
    unconfirmed = [r.probability for r in rows if r.kind == "flag_not_confirmed"
                   and r.probability is not None]  # fmt: skip
    missed = [r.probability for r in rows if r.kind == "finding_not_flagged"
              and r.probability is not None]  # fmt: skip
    return ThresholdHint(
        unconfirmed=sum(r.kind == "flag_not_confirmed" for r in rows),
        missed=sum(r.kind == "finding_not_flagged" for r in rows),
        highest_unconfirmed=max(unconfirmed) if unconfirmed else None,
        lowest_missed=min(missed) if missed else None,
    )
