"""The operations dashboard and the lists behind its numbers (managers only)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from readingcenter.accounts.models import User
from readingcenter.audit.services import audit_read_record
from readingcenter.ops import selectors
from readingcenter.ops.links import ai_model_links, dashboard_links

CASE_FILTERS = ("sla", "reader", "priority", "hospital", "coverage")


def _require_manager(user) -> None:
    # As the worklist's manager pages: a role that may not see it gets 403, not a 404.
    if not user.is_manager:
        raise PermissionDenied(_("The operations dashboard is for managers."))


@login_required
def dashboard_page(request):
    _require_manager(request.user)
    data = dashboard_links(selectors.dashboard())
    partial = bool(request.GET.get("partial"))
    # The figures name cases and accession numbers: opening the page is a read of patient
    # data. Its refetches (every hint, every poll) are the same look continuing; a line for
    # each would bury the trail under thousands of identical lines a day per open tab.
    if not partial:
        audit_read_record(
            actor=request.user,
            action="ops.dashboard.read",
            target_type="ops.dashboard",
            request=request,
        )
    context = {
        "d": data,
        "partial_url": f"{reverse('ops-dashboard')}?partial=1",
        "ai_models": ai_model_links(selectors.ai_models()),
    }
    template = "ops/_dashboard.html" if partial else "ops/dashboard.html"
    return render(request, template, context)


@login_required
def cases_page(request):
    """The cases behind a number: at risk, breached, or held by one radiologist."""
    _require_manager(request.user)
    now = timezone.now()
    filters = {k: request.GET[k] for k in CASE_FILTERS if request.GET.get(k)}
    page = Paginator(selectors.ops_cases(filters=filters, now=now), 50).get_page(
        request.GET.get("page")
    )
    audit_read_record(
        actor=request.user,
        action="case.list",
        target_type="worklist.case",
        request=request,
        detail={"page": "ops-cases", "filters": filters, "results": len(page.object_list)},
    )
    reader = (
        User.objects.filter(pk=filters["reader"]).first()
        if filters.get("reader", "").isdigit()
        else None
    )
    return render(
        request,
        "ops/cases.html",
        {
            "page": page,
            "filters": filters,
            "query": urlencode(filters),
            "now": now,
            "reader": reader,
        },
    )


@login_required
def reads_page(request):
    """The reports one radiologist signed since a moment (his reads this shift)."""
    _require_manager(request.user)
    reader_id = request.GET.get("reader", "")
    since = parse_datetime(request.GET.get("since", "") or "")
    if not reader_id.isdigit() or since is None:
        reports = selectors.reads_since(reader_id=0, since=timezone.now()).none()
    else:
        if timezone.is_naive(since):
            since = timezone.make_aware(since)
        reports = selectors.reads_since(reader_id=int(reader_id), since=since)
    page = Paginator(reports, 50).get_page(request.GET.get("page"))
    audit_read_record(
        actor=request.user,
        action="report.list",
        target_type="reports.report",
        request=request,
        detail={
            "page": "ops-reads",
            "reader": reader_id,
            "since": request.GET.get("since", ""),
            "results": len(page.object_list),
        },
    )
    reader = User.objects.filter(pk=reader_id).first() if reader_id.isdigit() else None
    query = urlencode({"reader": reader_id, "since": request.GET.get("since", "")})
    return render(
        request,
        "ops/reads.html",
        {"page": page, "reader": reader, "since": since, "query": query},
    )


@login_required
def deliveries_page(request):
    """Failed deliveries, each with its last error and a retry button."""
    _require_manager(request.user)
    page = Paginator(selectors.failed_deliveries(), 50).get_page(request.GET.get("page"))
    audit_read_record(
        actor=request.user,
        action="delivery.list",
        target_type="delivery.delivery",
        request=request,
        detail={"page": "ops-deliveries", "state": "failed", "results": len(page.object_list)},
    )
    return render(request, "ops/deliveries.html", {"page": page})
