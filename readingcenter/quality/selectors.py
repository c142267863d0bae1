from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils.translation import gettext as _

from readingcenter.accounts.selectors import privileged_hospital_ids
from readingcenter.quality.models import AIDisagreement, PeerReview
from triage.core.metrics import wilson_interval


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


def peer_reviews_visible(*, user, state: str = "") -> QuerySet:
    """Managers: all. A radiologist: the reviews he may take (pending, at a hospital he is
    privileged at, never of his own report), those he gave, and the scores his own reports
    got (scores are private to managers and the report's reader)."""
    qs = PeerReview.objects.select_related("report", "hospital", "first_reader", "reviewer")
    if state == "pending":
        qs = qs.filter(score="")
    elif state == "scored":
        qs = qs.exclude(score="")
    if user.is_manager:
        return qs
    if not user.is_radiologist:
        return qs.none()
    to_take = Q(score="", hospital_id__in=privileged_hospital_ids(user)) & ~Q(first_reader=user)
    return qs.filter(to_take | Q(reviewer=user) | (Q(first_reader=user) & ~Q(score="")))


@dataclass
class DiscrepancyRate:
    key: str
    scored: int
    discrepancies: int  # scores 3a and 3b
    rate: float
    ci95: list[float] | None  # Wilson


def discrepancy_rates(*, by: str) -> list[DiscrepancyRate]:
    """Peer-review discrepancy rates per reader, modality or hospital, with Wilson 95% CIs."""
    field = {"reader": "first_reader__username", "modality": "modality",
             "hospital": "hospital__code"}[by]  # fmt: skip
    rows = (
        PeerReview.objects.exclude(score="")
        .values(field)
        .annotate(n=Count("id"), d=Count("id", filter=Q(score__startswith="3")))
        .order_by(field)
    )
    return [
        DiscrepancyRate(
            r[field] or "(none)", r["n"], r["d"], r["d"] / r["n"], wilson_interval(r["d"], r["n"])
        )
        for r in rows
    ]


def peer_review_scorable(*, user, review_id: int) -> PeerReview:
    """The review this user may score (a radiologist privileged at its hospital, never the
    report's reader), or NotFound: another's review and none look the same."""
    from readingcenter.errors import NotFound

    review = PeerReview.objects.filter(pk=review_id).first()
    if (
        review is None
        or not user.is_radiologist
        or review.first_reader_id == user.pk
        or (review.hospital_id not in privileged_hospital_ids(user))
    ):
        raise NotFound(_("No peer review of yours to score with this id."))
    return review
