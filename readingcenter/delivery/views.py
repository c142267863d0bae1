"""Delivery pages: a manager retries a failed delivery from the report page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from readingcenter.delivery import services
from readingcenter.delivery.models import Delivery
from readingcenter.errors import DomainError


@login_required
@require_POST
def delivery_retry_page(request, pk: int):
    report_id = Delivery.objects.filter(pk=pk).values_list("report_id", flat=True).first()
    try:
        services.delivery_retry(delivery_id=pk, actor=request.user, request=request)
        messages.success(request, "Sending again now.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("report-detail", pk=report_id) if report_id else redirect("home")
