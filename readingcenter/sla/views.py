"""SLA pages: a reader's (or manager's) notifications, and the managers' escalation record."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from readingcenter.sla import selectors, services


@login_required
def notifications_page(request):
    """What the escalation told this user: cases at risk or breached, newest first."""
    notifications = list(selectors.notifications_for_user(user=request.user)[:200])
    return render(
        request,
        "sla/notifications.html",
        {"notifications": notifications, "now": timezone.now(),
         "unread": sum(1 for n in notifications if n.read_at is None)},
    )  # fmt: skip


@login_required
@require_POST
def notifications_read(request):
    ids = [int(v) for v in request.POST.getlist("id") if v.isdigit()] or None
    services.sla_notifications_mark_read(user=request.user, ids=ids)
    return redirect("sla-notifications")


@login_required
def escalation_page(request):
    """Managers: the tiers in force and the latest steps taken."""
    if not request.user.is_manager:
        raise PermissionDenied(_("Escalation is configured by managers."))
    tiers = list(selectors.escalation_tier_list(user=request.user))
    steps = list(
        selectors.escalation_list(user=request.user)
        .select_related("case__hospital", "case__study")
        .prefetch_related("notifications__recipient")[:200]
    )
    return render(request, "sla/escalation.html", {"tiers": tiers, "escalations": steps})
