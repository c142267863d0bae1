"""Delivery pages: a signed report as PDF (the report page's and the portal's link), and a
manager retrying a failed delivery from the report page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from readingcenter.audit.services import audit_record
from readingcenter.delivery import selectors, services
from readingcenter.delivery.models import Delivery
from readingcenter.errors import DomainError, NotFound
from readingcenter.reports.views import report_or_404


def pdf_response(request, report) -> HttpResponse:
    """The PDF every channel sends, for a report the caller may see (the page and the API)."""
    if not report.is_signed:
        raise NotFound(_("Only signed reports have a PDF."))
    audit_record(
        actor=request.user,
        action="report.pdf",
        target=report,
        hospital=report.hospital_id,
        patient_id=report.study.patient_id,
        request=request,
    )
    pdf = selectors.report_pdf(report)
    name = f"report-{report.study.accession_number or report.study_id}-v{report.version_number}"
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{name}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def report_pdf_page(request, pk: int):
    report = report_or_404(request, pk)
    try:
        return pdf_response(request, report)
    except NotFound:
        raise Http404(_("Only signed reports have a PDF.")) from None


@login_required
@require_POST
def delivery_retry_page(request, pk: int):
    report_id = Delivery.objects.filter(pk=pk).values_list("report_id", flat=True).first()
    try:
        services.delivery_retry(delivery_id=pk, actor=request.user, request=request)
        messages.success(request, _("Sending again now."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("report-detail", pk=report_id) if report_id else redirect("home")
