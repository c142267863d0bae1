"""The critical results pages: the hospital acknowledges, the manager records phone calls and
watches what is still open; a radiologist sees the record of his hospitals (read-only)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from readingcenter.accounts.moments import moment_text
from readingcenter.audit.models import Outcome
from readingcenter.audit.services import audit_read_record, audit_record
from readingcenter.critical import selectors, services
from readingcenter.critical.models import AckVia, State
from readingcenter.errors import DomainError
from readingcenter.hospitals.selectors import hospital_list


def _require_someone_who_sees_them(user) -> None:
    if not (user.is_hospital_user or user.is_manager or user.is_radiologist):
        raise PermissionDenied(_("Critical results are for hospitals, readers and managers."))


def _result_or_404(request, pk: int):
    try:
        return selectors.critical_result_get(user=request.user, id=pk)
    except DomainError:
        audit_record(actor=request.user, action="critical_result.read",
                     outcome=Outcome.NOT_FOUND, target_type="critical.criticalresult",
                     target_id=pk, request=request)  # fmt: skip
        raise Http404(_("No such critical result.")) from None


@login_required
def critical_results_page(request):
    _require_someone_who_sees_them(request.user)
    filters = {k: request.GET[k] for k in selectors.FILTERS if request.GET.get(k)}
    results = list(selectors.critical_results_list(user=request.user, filters=filters)[:200])
    audit_read_record(
        actor=request.user,
        action="critical_result.list",
        target_type="critical.criticalresult",
        request=request,
        detail={"page": "critical-results", "filters": filters, "results": len(results)},
    )
    query = urlencode(filters)
    context = {
        "results": results,
        "open_count": sum(1 for r in results if r.is_open),
        "filters": filters,
        "states": State.choices,
        "hospitals": hospital_list(user=request.user) if not request.user.is_hospital_user else [],
        "now": timezone.now(),
        "partial_url": f"{reverse('critical-results')}?{query}&partial=1",
        "next": request.get_full_path(),
    }
    template = "critical/_list.html" if request.GET.get("partial") else "critical/list.html"
    return render(request, template, context)


@login_required
def critical_result_page(request, pk: int):
    _require_someone_who_sees_them(request.user)
    result = _result_or_404(request, pk)
    audit_read_record(actor=request.user, action="critical_result.read", target=result,
                      hospital=result.hospital_id, patient_id=result.study.patient_id,
                      request=request)  # fmt: skip
    return render(
        request,
        "critical/detail.html",
        {
            "result": result,
            "critical_results": [result],
            "now": timezone.now(),
            "next": request.get_full_path(),
        },
    )


@login_required
@require_POST
def critical_result_acknowledge(request, pk: int):
    """The hospital user's button, or the manager's "acknowledged by phone" form."""
    user = request.user
    if user.is_hospital_user:
        via = AckVia.PORTAL
    elif user.is_manager:
        via = AckVia.PHONE
    else:
        _result_or_404(request, pk)
        raise PermissionDenied(_("Only the hospital, or a manager by phone, acknowledges."))
    try:
        result = services.critical_result_acknowledge(
            critical_result_id=pk,
            user=user,
            via=via,
            name=request.POST.get("name", ""),
            role=request.POST.get("role", ""),
            read_back=request.POST.get("read_back") == "yes",
            note=request.POST.get("note", ""),
            request=request,
        )
    except DomainError as exc:
        if exc.status_code == 404:
            raise Http404(exc.message) from None
        messages.error(request, exc.message)
    else:
        when = moment_text(result.acknowledged_at)
        if result.just_acknowledged:
            messages.success(
                request, _("Acknowledged at %(when)s: escalation stopped.") % {"when": when}
            )
        else:
            messages.info(
                request,
                _("Already acknowledged by %(name)s at %(when)s (%(via)s).")
                % {
                    "name": result.acknowledged_by_name or _("the hospital"),
                    "when": when,
                    "via": result.get_ack_via_display(),
                },
            )
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("critical-result-detail", args=[pk])
    return redirect(target)
