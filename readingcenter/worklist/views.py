"""The radiologist's pages: the worklist, a case, the viewer; the manager's assignment view."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from readingcenter import hooks
from readingcenter.accounts.models import Role, Subspecialty, User
from readingcenter.audit.models import Outcome
from readingcenter.audit.services import audit_read_record, audit_record
from readingcenter.errors import DomainError
from readingcenter.hospitals.selectors import hospital_list
from readingcenter.priors.selectors import prior_lookup_for
from readingcenter.studies.models import Priority
from readingcenter.worklist import selectors, services
from readingcenter.worklist.models import CaseState
from triage.selectors import triage_awaiting_for

FILTER_KEYS = ("modality", "body_part", "subspecialty", "hospital", "priority", "state", "ai",
               "mine")  # fmt: skip


def _require_reader_or_manager(user) -> None:
    if not (user.is_radiologist or user.is_manager):
        raise PermissionDenied(_("The worklist is for radiologists and managers."))


def _case_or_404(request, pk: int):
    try:
        return selectors.case_get(user=request.user, case_id=pk)
    except DomainError:
        audit_record(actor=request.user, action="case.read", outcome=Outcome.NOT_FOUND,
                     target_type="worklist.case", target_id=pk, request=request)  # fmt: skip
        raise Http404(_("No such case.")) from None


def _around_pk(name: str) -> tuple[str, str]:
    """A case URL's text before and after its id: the table formats it per row instead of
    resolving the URL fifty times."""
    before, after = reverse(name, args=[0]).rsplit("/0/", 1)
    return f"{before}/", f"/{after}"


def _worklist_context(request) -> dict:
    filters = {k: request.GET[k] for k in FILTER_KEYS if request.GET.get(k)}
    cases = selectors.worklist(user=request.user, filters=filters)
    page = Paginator(cases, 50).get_page(request.GET.get("page"))
    audit_read_record(
        actor=request.user,
        action="case.list",
        target_type="worklist.case",
        request=request,
        detail={"page": "worklist", "filters": filters, "results": len(page.object_list)},
    )
    query = urlencode(filters)
    return {
        "page": page,
        "filters": filters,
        "query": query,
        "now": timezone.now(),
        "hospitals": hospital_list(user=request.user),
        "priorities": Priority.choices,
        "states": CaseState.choices,
        "subspecialties": Subspecialty.choices,
        "partial_url": f"{reverse('worklist')}?{query}&partial=1&page={page.number}",
        "case_url": _around_pk("case-detail"),
        "claim_url": _around_pk("case-claim"),
    }


@login_required
def worklist_page(request):
    _require_reader_or_manager(request.user)
    context = _worklist_context(request)
    template = "worklist/_table.html" if request.GET.get("partial") else "worklist/worklist.html"
    return render(request, template, context)


@login_required
@require_POST
def next_case(request):
    after = request.POST.get("after", "")
    try:
        case = services.case_next(
            user=request.user, after=int(after) if after.isdigit() else None, request=request
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("worklist")
    if case is None:
        messages.info(request, _("Nothing to read right now: no unread case you may read."))
        return redirect("worklist")
    return redirect("case-detail", pk=case.pk)


@login_required
def case_page(request, pk: int):
    _require_reader_or_manager(request.user)
    case = _case_or_404(request, pk)
    study = case.study
    audit_read_record(actor=request.user, action="case.read", target=case,
                      hospital=case.hospital_id, patient_id=study.patient_id,
                      request=request)  # fmt: skip
    services.case_touch(case_id=case.pk, user=request.user)
    runs = [r for r in study.triage_runs.all() if r.study_version == study.version]
    mine = case.claimed_by_id == request.user.id
    priors = list(selectors.priors_for(case))
    # Side by side with the most recent prior of the same modality (OHIF's compare protocol).
    compare = next((p for p in priors if set(p.modalities) & set(study.modalities)), None)
    context = {
        "case": case,
        "study": study,
        "order": study.order,
        "priors": priors,
        "prior_lookup": prior_lookup_for(study),
        "compare_prior": compare,
        "compare_src": reverse("viewer")
        + "?"
        + urlencode(
            {
                "StudyInstanceUIDs": f"{study.study_instance_uid},{compare.study_instance_uid}",
                "hangingProtocolId": "@ohif/hpCompare",
            }
        )
        if compare
        else "",
        "runs": runs,
        "ai_awaiting": triage_awaiting_for(study),
        "now": timezone.now(),
        "mine": mine,
        "viewer_src": reverse("viewer")
        + "?"
        + urlencode({"StudyInstanceUIDs": study.study_instance_uid}),
        "decisions": selectors.decision_list(user=request.user, case_id=case.pk)[:20],
        "readers": (
            User.objects.filter(role=Role.RADIOLOGIST, is_active=True).order_by("username")
            if request.user.is_manager
            else []
        ),
    }
    # Hook point "worklist.case_page": gather(case=, user=, request=) answers dicts of extra
    # context for this page from the apps above the worklist: the report editor and the signed
    # versions (reports), the escalation record (sla). Later answers win a shared key.
    for more in hooks.gather("worklist.case_page", case=case, user=request.user, request=request):
        context.update(more)
    return render(request, "worklist/case.html", context)


@login_required
def case_viewer(request, pk: int):
    """Open the case's study in OHIF (full window). Audited here, and again by the proxy."""
    _require_reader_or_manager(request.user)
    case = _case_or_404(request, pk)
    audit_read_record(
        actor=request.user,
        action="case.open_viewer",
        target=case,
        hospital=case.hospital_id,
        patient_id=case.study.patient_id,
        request=request,
    )
    services.case_touch(case_id=case.pk, user=request.user)
    query = urlencode({"StudyInstanceUIDs": case.study.study_instance_uid})
    return redirect(f"{reverse('viewer')}?{query}")


def _act(request, pk: int, action, success: str):
    try:
        action()
        messages.success(request, success)
    except DomainError as exc:
        if exc.status_code == 404:
            raise Http404(exc.message) from None
        messages.error(request, exc.message)
    return redirect(request.POST.get("next") or reverse("case-detail", args=[pk]))


@login_required
@require_POST
def case_claim(request, pk: int):
    return _act(
        request,
        pk,
        lambda: services.case_claim(case_id=pk, user=request.user, request=request),
        _("Claimed: the case is yours."),
    )


@login_required
@require_POST
def case_release(request, pk: int):
    return _act(
        request,
        pk,
        lambda: services.case_release(
            case_id=pk, user=request.user, request=request, reason=request.POST.get("reason", "")
        ),
        _("Released to the pool."),
    )


@login_required
@require_POST
def case_reassign(request, pk: int):
    if not request.user.is_manager:
        raise PermissionDenied
    to_id = request.POST.get("to") or ""
    to_user = User.objects.filter(pk=to_id).first() if to_id.isdigit() else None
    if to_id and to_user is None:
        messages.error(request, _("Choose a radiologist, or 'back to the pool'."))
        return redirect("case-detail", pk=pk)
    return _act(
        request,
        pk,
        lambda: services.case_reassign(
            case_id=pk,
            to_user=to_user,
            actor=request.user,
            reason=request.POST.get("reason", ""),
            request=request,
        ),
        _("Reassigned to %(user)s.") % {"user": to_user.get_username()}
        if to_user
        else _("Returned to the pool."),
    )


@login_required
@require_POST
def case_remove(request, pk: int):
    if not request.user.is_manager:
        raise PermissionDenied
    return _act(
        request,
        pk,
        lambda: services.case_remove(
            case_id=pk, actor=request.user, request=request, reason=request.POST.get("reason", "")
        ),
        _("Removed from the worklist."),
    )


@login_required
def assignments_page(request):
    """Managers: who reads what now, who is on duty, and why each case went where it went."""
    if not request.user.is_manager:
        raise PermissionDenied
    audit_read_record(
        actor=request.user,
        action="case.list",
        target_type="worklist.case",
        request=request,
        detail={"page": "assignments"},
    )
    return render(
        request,
        "worklist/assignments.html",
        {
            "claims": selectors.claims_by_reader(user=request.user)[:500],
            "radiologists": selectors.radiologist_rows(),
            "decisions": selectors.decision_list(user=request.user)[:100],
            "now": timezone.now(),
        },
    )
