"""The analytics pages: the dashboard with its charts, CSV downloads, the monthly SLA report.

Times on the pages are in the user's time zone (the middleware activates it), and so is the
hour-of-day chart; the SLA report uses the hospital's own zone, since it is the hospital's
calendar month that the contract talks about.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from readingcenter.analytics import charts, exports, selectors
from readingcenter.analytics.params import filters_from_query, period_from_query, user_zone
from readingcenter.audit.models import Outcome
from readingcenter.audit.services import audit_record
from readingcenter.errors import DomainError
from readingcenter.hospitals.selectors import hospital_list
from readingcenter.quality.selectors import disagreements_for, threshold_hint
from readingcenter.studies.models import Priority
from triage.monitoring import (
    model_version_alarms,
    model_version_get,
    model_version_history,
    model_versions_monitoring,
)
from triage.selectors import model_card_summary

TABLES = ("overview", "overall", "hospital", "modality", "priority", "radiologist", "hour",
          "productivity", "ai")  # fmt: skip


def _require_analytics_user(user) -> None:
    if not (user.is_manager or user.is_hospital_user or user.is_radiologist):
        raise PermissionDenied(_("Analytics are for managers, hospitals and radiologists."))


def _inputs(request):
    try:
        return (
            period_from_query(request.GET, request.user),
            filters_from_query(request.GET),
        )
    except DomainError as error:
        raise _BadInput(error.message) from None


class _BadInput(Exception):
    pass


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _tat_chart(rows, title):
    return charts.bars(
        [(r.label, [r.final_p50, r.final_p90, r.final_p95]) for r in rows],
        ["p50", "p90", "p95"],
        "min",
        title=title,
    )


@login_required
def analytics_page(request):
    user = request.user
    _require_analytics_user(user)
    try:
        period, filters = _inputs(request)
    except _BadInput as error:
        return HttpResponseBadRequest(str(error))
    zone = user_zone(user)
    tat = selectors.tat_breakdown(user=user, period=period, filters=filters, zone=zone)
    overview = selectors.overview(user=user, period=period, filters=filters)
    productivity = [] if user.is_hospital_user else selectors.productivity(
        user=user, period=period, filters=filters
    )  # fmt: skip
    ai = selectors.ai_performance(user=user, period=period, filters=filters)
    query = request.GET.urlencode()
    local = zoneinfo.ZoneInfo(zone)
    last_day = period.end.astimezone(local).date() - dt.timedelta(days=1)
    this_month = timezone.localtime(timezone.now(), local).date().replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    hospitals = list(hospital_list(user=user)) if user.is_manager else []
    if user.is_hospital_user:
        hospitals = [user.hospital]
    context = {
        "period": period,
        "first_day": period.start.astimezone(local).date(),
        "last_day": last_day,
        "filters": filters,
        "zone": zone,
        "tat": tat,
        "overview": overview,
        "productivity": productivity,
        "ai": ai,
        "hospitals": hospitals,
        "priorities": Priority.choices,
        "query": query,
        "csv": {t: f"{reverse('analytics-csv', args=[t])}?{query}" for t in TABLES},
        # The month the period starts in, and the last two calendar months.
        "months": sorted(
            {
                f"{period.start.astimezone(local):%Y-%m}",
                f"{last_month:%Y-%m}",
                f"{this_month:%Y-%m}",
            }
        ),
        "charts": {
            "hospital": _tat_chart(tat.by_hospital, _("TAT by hospital")),
            "modality": _tat_chart(tat.by_modality, _("TAT by modality")),
            "priority": _tat_chart(tat.by_priority, _("TAT by priority")),
            "radiologist": _tat_chart(tat.by_radiologist, _("TAT by radiologist")),
            "hour": charts.hours(
                [r.count for r in tat.by_hour],
                [r.final_p50 for r in tat.by_hour],
                [r.final_p90 for r in tat.by_hour],
                title=_("Volume and TAT by hour of arrival"),
            ),
            "compliance": charts.bars(
                [
                    (r.label, [None if r.compliance is None else 100 * r.compliance])
                    for r in overview.compliance_by_hospital
                ],
                [_("SLA compliance")],
                "%",
                title=_("SLA compliance by hospital"),
                scale_max=100,
            ),
        },
    }
    return render(request, "analytics/dashboard.html", context)


@login_required
def analytics_csv(request, table: str):
    """Every table on the page as CSV with a header row, for the same period and filters."""
    user = request.user
    _require_analytics_user(user)
    if table not in TABLES or (table in ("productivity", "radiologist") and user.is_hospital_user):
        raise Http404(_("No such table."))
    try:
        period, filters = _inputs(request)
    except _BadInput as error:
        return HttpResponseBadRequest(str(error))
    zone = user_zone(user)
    if table == "overview":
        ov = selectors.overview(user=user, period=period, filters=filters)
        rows = exports.overview_table(ov, zoneinfo.ZoneInfo(zone))
    elif table == "productivity":
        rows = exports.productivity_table(
            selectors.productivity(user=user, period=period, filters=filters)
        )
    elif table == "ai":
        rows = exports.ai_table(selectors.ai_performance(user=user, period=period, filters=filters))
    else:
        tat = selectors.tat_breakdown(user=user, period=period, filters=filters, zone=zone)
        found = [tat.overall] if table == "overall" else getattr(tat, f"by_{table}")
        rows = exports.tat_table(table, found)
    day = f"{period.start.astimezone(zoneinfo.ZoneInfo(zone)):%Y%m%d}"
    return _csv_response(exports.to_csv(rows), f"analytics-{table}-{day}.csv")


def _sla_report(request, code: str, month: str, fmt: str):
    user = request.user
    try:
        report = selectors.sla_report(user=user, hospital_code=code, month=month)
    except DomainError as error:
        audit_record(actor=user, action="analytics.sla_report.read",
                     outcome=Outcome.NOT_FOUND if error.status_code == 404 else Outcome.INVALID,
                     target_type="hospitals.hospital", target_id=code, request=request,
                     detail={"month": month, "format": fmt})  # fmt: skip
        if error.status_code == 404:
            raise Http404(_("No such hospital.")) from None
        return HttpResponseBadRequest(error.message)
    # The breach list names accessions and patients: a read of patient data, on the trail.
    audit_record(
        actor=user,
        action="analytics.sla_report.read",
        target=report.hospital,
        hospital=report.hospital,
        request=request,
        detail={"month": report.month, "format": fmt, "breaches": len(report.breaches),
                "accessions": [b.accession_number for b in report.breaches][:500]},
    )  # fmt: skip
    return report


@login_required
def sla_report_pdf(request, code: str, month: str):
    report = _sla_report(request, code, month, "pdf")
    if isinstance(report, HttpResponse):
        return report
    response = HttpResponse(exports.sla_report_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="sla-{code}-{report.month}.pdf"'
    return response


@login_required
def sla_report_csv(request, code: str, month: str):
    report = _sla_report(request, code, month, "csv")
    if isinstance(report, HttpResponse):
        return report
    return _csv_response(exports.sla_report_csv(report), f"sla-{code}-{report.month}.csv")


# -- the AI model pages (managers) ----------------------------------------------------------

# The agreement with signed reports shown on a model page: the last 30 days, like the
# analytics page's default period.
AGREEMENT_DAYS = 30


def _require_manager(user) -> None:
    if not user.is_manager:
        raise PermissionDenied(_("The AI model pages are for managers."))


@login_required
def ai_models_page(request):
    """Every model version a worker has loaded, each linking to its page."""
    _require_manager(request.user)
    rows = model_versions_monitoring()
    audit_record(actor=request.user, action="triage.model_version.list",
                 target_type="triage.modelversion", request=request,
                 detail={"page": "ai-models", "results": len(rows)})  # fmt: skip
    return render(request, "analytics/ai_models.html", {"rows": rows})


@login_required
def ai_model_page(request, model_name: str, model_version: str):
    """One model version: its card, state and pause history, live monitoring and alarms, and
    how the signed reports took its findings (the analytics' AI performance, for it alone)."""
    _require_manager(request.user)
    version = model_version_get(model_name=model_name, model_version=model_version)
    if version is None:
        raise Http404(_("No such model version."))
    [monitoring] = model_versions_monitoring(versions=[version])
    period = selectors.Period.last_days(AGREEMENT_DAYS, zone=user_zone(request.user))
    performance = selectors.ai_performance(user=request.user, period=period)
    agreement = next(
        (
            row
            for row in performance.rows
            if (row.model_name, row.model_version) == (model_name, model_version)
        ),
        None,
    )
    disagreements = list(
        disagreements_for(model_name=model_name, model_version=model_version, since=period.start)
    )
    audit_record(actor=request.user, action="triage.model_version.read", target=version,
                 request=request, detail={"page": "ai-model"})  # fmt: skip
    key = urlencode({"model_name": model_name, "model_version": model_version})
    context = {
        "version": version,
        "card": model_card_summary(version.card),
        "m": monitoring,
        "history": model_version_history(version),
        "alarms": model_version_alarms(version)[:100],
        "agreement": agreement,
        "agreement_days": AGREEMENT_DAYS,
        "disagreements": disagreements[:50],
        "hint": threshold_hint(disagreements),
        "runs_url": f"{reverse('admin:triage_triagerun_changelist')}?{key}",
    }
    return render(request, "analytics/ai_model.html", context)
