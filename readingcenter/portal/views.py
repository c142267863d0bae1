"""The hospital portal: its own studies and their reports, its orders, a CSV of the list."""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from readingcenter.audit.services import audit_record
from readingcenter.followups.selectors import followups_for_hospital
from readingcenter.portal import selectors
from readingcenter.portal.selectors import PortalStatus, case_of

PAGE_SIZE = 50


class StudyFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", gettext_lazy("Any status")), *PortalStatus.choices],
        required=False,
    )
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, max_length=100)


def _require_hospital_user(user) -> None:
    # Managers and readers have their own pages; the portal is the hospital's window.
    if not (user.is_hospital_user and user.hospital_id):
        raise PermissionDenied(_("The portal is for hospital users."))


def _filters(request) -> tuple[dict, dict]:
    """(the cleaned filters for the selector, the raw ones for links and the audit line).

    A field that does not parse (a date typed by hand) is left out rather than refused.
    """
    form = StudyFilterForm(request.GET)
    form.is_valid()  # cleaned_data then holds the fields that parsed
    cleaned = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    raw = {k: request.GET[k] for k in selectors.FILTERS if request.GET.get(k) and k in cleaned}
    return cleaned, raw


def _row(study, now) -> dict:
    case = case_of(study)
    open_case = case is not None and case.is_open
    return {
        "study": study,
        "status": study.portal_status,
        "status_label": PortalStatus.labels[study.portal_status],
        "case": case,
        "due_at": case.due_at if open_case else None,
        "sla_status": case.sla_status(now) if open_case else None,
        "seconds_left": case.seconds_left(now) if open_case else None,
        "reports": study.signed_reports,
        "deliveries": [(r, d) for r in study.signed_reports for d in r.deliveries.all()],
    }


@login_required
def portal_page(request):
    user = request.user
    _require_hospital_user(user)
    filters, raw = _filters(request)
    page = Paginator(selectors.portal_studies(user=user, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    now = timezone.now()
    rows = [_row(s, now) for s in page.object_list]
    audit_record(
        actor=user,
        action="study.list",
        target_type="studies.study",
        hospital=user.hospital_id,
        request=request,
        detail={"page": "portal", "filters": raw, "results": len(rows)},
    )
    query = urlencode(raw)
    return render(
        request,
        "portal/portal.html",
        {
            "form": StudyFilterForm(request.GET or None),
            "page": page,
            "rows": rows,
            "query": query,
            "export_url": f"{reverse('portal-export')}?{query}",
            "open_critical": selectors.open_critical_count(user=user),
            "now": now,
        },
    )


@login_required
def orders_page(request):
    user = request.user
    _require_hospital_user(user)
    q = request.GET.get("q", "")
    page = Paginator(selectors.portal_orders(user=user, filters={"q": q}), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    audit_record(
        actor=user,
        action="order.list",
        target_type="studies.order",
        hospital=user.hospital_id,
        request=request,
        detail={"page": "portal-orders", "q": q, "results": len(page.object_list)},
    )
    return render(
        request,
        "portal/orders.html",
        {"page": page, "q": q, "query": urlencode({"q": q} if q else {})},
    )


@login_required
def followups_page(request):
    """The follow-ups our reports recommended for the hospital's patients: overdue first."""
    user = request.user
    _require_hospital_user(user)
    state = request.GET.get("state", "")
    if state not in ("", "open", "overdue", "done"):
        state = ""
    page = Paginator(followups_for_hospital(user=user, state=state), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    audit_record(actor=user, action="followup.list", target_type="followups.followup",
                 hospital=user.hospital_id, request=request,
                 detail={"page": "portal-followups", "state": state,
                         "results": len(page.object_list)})  # fmt: skip
    return render(request, "portal/followups.html", {"page": page, "state": state})


class _Echo:
    """csv.writer writes into this and gets the line back, to be streamed."""

    def write(self, value):
        return value


EXPORT_HEADER = [
    "accession_number",
    "patient_id",
    "patient_name",
    "study_description",
    "modalities",
    "received_at",
    "status",
    "priority",
    "deadline",
    "time_left_min",
    "reports",
    "deliveries",
]


@login_required
def export_csv(request):
    """The filtered list as CSV, streamed row by row (a year of studies is never in memory)."""
    user = request.user
    _require_hospital_user(user)
    filters, raw = _filters(request)
    studies = selectors.portal_studies(user=user, filters=filters).order_by("-received_at", "-id")
    audit_record(
        actor=user,
        action="study.export",
        target_type="studies.study",
        hospital=user.hospital_id,
        request=request,
        detail={"page": "portal-export", "filters": raw},
    )
    now = timezone.now()
    # The user's zone, taken now: the rows are written after the view (and its middleware)
    # has returned, possibly in another thread.
    zone = timezone.get_current_timezone()

    def lines():
        writer = csv.writer(_Echo())
        yield writer.writerow(EXPORT_HEADER)
        # Prefetching works per chunk with iterator(chunk_size=...): memory stays one chunk.
        for study in studies.iterator(chunk_size=500):
            row = _row(study, now)
            reports = row["reports"]
            yield writer.writerow(
                [
                    study.accession_number,
                    study.patient_id,
                    study.patient_name,
                    study.study_description,
                    " ".join(study.modalities),
                    timezone.localtime(study.received_at, zone).isoformat(),
                    row["status"],
                    study.priority,
                    timezone.localtime(row["due_at"], zone).isoformat() if row["due_at"] else "",
                    row["seconds_left"] // 60 if row["seconds_left"] is not None else "",
                    " ".join(f"v{r.version_number}:{r.delivery_status}" for r in reports),
                    " ".join(
                        f"v{r.version_number}:{d.channel}:{d.state}" for r, d in row["deliveries"]
                    ),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="studies.csv"'
    return response
