"""The peer review page: reviews to take, given and received; managers' discrepancy rates."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from readingcenter.audit.services import audit_read_record
from readingcenter.errors import DomainError
from readingcenter.quality import selectors, services
from readingcenter.quality.models import PeerReview


def _require_reader_or_manager(user) -> None:
    if not (user.is_radiologist or user.is_manager):
        raise PermissionDenied(_("Peer review is for radiologists and managers."))


@login_required
def peer_review_page(request):
    user = request.user
    _require_reader_or_manager(user)
    reviews = list(selectors.peer_reviews_visible(user=user)[:200])
    rates = (
        {by: selectors.discrepancy_rates(by=by) for by in ("reader", "modality", "hospital")}
        if user.is_manager
        else {}
    )
    audit_read_record(actor=user, action="peer_review.list", target_type="quality.peerreview",
                      request=request, detail={"results": len(reviews)})  # fmt: skip
    return render(request, "quality/peer_review.html", {
        "to_take": [r for r in reviews if not r.score and r.first_reader_id != user.pk],
        "done": [r for r in reviews if r.score],
        "scores": PeerReview.Score.choices,
        "rates": rates,
    })  # fmt: skip


@login_required
@require_POST
def peer_review_score(request, pk: int):
    _require_reader_or_manager(request.user)
    try:
        services.peer_review_score(
            review_id=pk,
            user=request.user,
            score=request.POST.get("score", ""),
            comment=request.POST.get("comment", ""),
            request=request,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Score saved."))
    return redirect("peer-review")
