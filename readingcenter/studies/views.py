from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from readingcenter import hooks
from readingcenter.audit.services import audit_read_record, audit_record
from readingcenter.errors import DomainError
from readingcenter.hospitals.models import Hospital
from readingcenter.hospitals.selectors import hospital_by_code, hospital_list
from readingcenter.studies import selectors, services
from readingcenter.studies.models import Priority, StudyStatus


@login_required
def home(request):
    # Managers start at the operations dashboard, readers at the worklist, hospitals at their
    # portal.
    if request.user.is_manager:
        return redirect("ops-dashboard")
    if request.user.is_radiologist:
        return redirect("worklist")
    if request.user.is_hospital_user:
        return redirect("portal")
    return redirect("study-board")


# A board section shows this many rows; "all" opens the section alone, paged.
BOARD_ROWS = 20
PAGE_ROWS = 50
BOARD_FILTERS = ("q", "hospital", "modality", "priority", "status")


def _board_sections(user, status: str) -> list[tuple[str, str, str]]:
    sections = [
        (_("Quarantined"), "quarantined", StudyStatus.QUARANTINED),
        (_("Arriving"), "receiving", StudyStatus.RECEIVING),
        (_("Complete"), "complete", StudyStatus.COMPLETE),
    ]
    if user.sees_all_hospitals:
        sections.append((_("Rejected"), "rejected", StudyStatus.REJECTED))
    else:
        # A hospital never sees quarantine: those studies belong to nobody yet.
        sections = sections[1:]
    chosen = [s for s in sections if s[2] == status]
    # Without a status chosen: the live board, rejected studies left out.
    return chosen or [s for s in sections if s[2] != StudyStatus.REJECTED]


def _board_context(request):
    """The studies board: each status's newest first, searched and filtered; one status
    chosen, it is the page's one table, paged."""
    user = request.user
    filters = {k: request.GET[k].strip() for k in BOARD_FILTERS if request.GET.get(k, "").strip()}
    sections = _board_sections(user, filters.get("status", ""))
    alone = len(sections) == 1
    tables = []
    for title, key, status in sections:
        rows = selectors.study_list(user=user, filters={**filters, "status": status})
        page = Paginator(rows, PAGE_ROWS if alone else BOARD_ROWS).get_page(
            request.GET.get("page") if alone else 1
        )
        more = urlencode({**filters, "status": status})
        tables.append({"title": title, "key": key, "page": page, "rows": page.object_list,
                       "all_url": f"{reverse('study-board')}?{more}"})  # fmt: skip
    audit_read_record(
        actor=user,
        action="study.list",
        target_type="study",
        request=request,
        detail={"page": "board", "filters": filters,
                "results": sum(len(t["rows"]) for t in tables)},
    )  # fmt: skip
    query = urlencode(filters)
    page_number = tables[0]["page"].number if alone else 1
    return {
        "tables": tables,
        "alone": alone,
        "filters": filters,
        "query": query,
        "partial_url": f"{reverse('study-board')}?{query}&partial=1&page={page_number}",
        "statuses": [(status, title) for title, _key, status in _board_sections(user, "")]
        + ([(StudyStatus.REJECTED, _("Rejected"))] if user.sees_all_hospitals else []),
        "priorities": Priority.choices,
        "hospitals": hospital_list(user=user) if not user.is_hospital_user else [],
    }


@login_required
def study_board(request):
    context = _board_context(request)
    template = "studies/_board_tables.html" if request.GET.get("partial") else "studies/board.html"
    return render(request, template, context)


@login_required
def study_detail(request, pk: int):
    try:
        study = selectors.study_get(user=request.user, study_id=pk)
    except DomainError:
        audit_record(
            actor=request.user,
            action="study.read",
            outcome="not_found",
            target_type="studies.study",
            target_id=pk,
            request=request,
        )
        raise Http404(_("No such study.")) from None
    audit_read_record(
        actor=request.user,
        action="study.read",
        target=study,
        hospital=study.hospital_id,
        patient_id=study.patient_id,
        request=request,
    )
    context = {
        "study": study,
        "events": study.events.all(),
        "hospitals": Hospital.objects.filter(is_active=True) if request.user.is_manager else [],
    }
    # Hook "studies.study_page", gather(study=, user=): each answer a dict of more context for
    # the page (reports: the hospital's view of its reports, "versions" and "reported").
    for more in hooks.gather("studies.study_page", study=study, user=request.user):
        context.update(more)
    return render(request, "studies/detail.html", context)


@login_required
@require_POST
def study_assign(request, pk: int):
    if not request.user.is_manager:
        raise PermissionDenied
    hospital = hospital_by_code(request.POST.get("hospital", ""))
    if hospital is None:
        messages.error(request, gettext("Choose the hospital the study came from."))
        return redirect("study-detail", pk=pk)
    try:
        services.study_assign_hospital(
            study_id=pk, hospital=hospital, actor=request.user, request=request
        )
        messages.success(
            request, gettext("Study assigned to %(hospital)s.") % {"hospital": hospital.name}
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("study-detail", pk=pk)


@login_required
@require_POST
def study_reject(request, pk: int):
    if not request.user.is_manager:
        raise PermissionDenied
    try:
        services.study_reject(
            study_id=pk, actor=request.user, reason=request.POST.get("reason", ""), request=request
        )
        messages.success(request, gettext("Study rejected; it is kept and will not be read."))
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("study-detail", pk=pk)
