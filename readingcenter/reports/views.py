"""Report pages: save, sign and amend from the case page; the report as the hospital sees it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from readingcenter import hooks
from readingcenter.audit.models import Outcome
from readingcenter.audit.services import audit_read_record, audit_record
from readingcenter.errors import DomainError, NotFound
from readingcenter.reports import critical_rules, selectors, services
from readingcenter.reports.models import SECTIONS, CriticalCategory


def report_or_404(request, pk: int):
    """The report if the user may see it; a 404 (audited) like one that does not exist."""
    try:
        return selectors.report_get(user=request.user, report_id=pk)
    except NotFound:
        audit_record(
            actor=request.user,
            action="report.read",
            outcome=Outcome.NOT_FOUND,
            target_type="reports.report",
            target_id=pk,
            request=request,
        )
        raise Http404(_("No such report.")) from None


def _text(post, name: str) -> str:
    """A textarea's text as the editor's autosave sends it: browsers post line breaks as CRLF."""
    return post.get(name, "").replace("\r\n", "\n")


def critical_from_post(post) -> list[dict]:
    """The editor's critical-finding rows (finding_N, category_N); empty rows are dropped."""
    rows = []
    for key in sorted(k for k in post if k.startswith("critical_finding_")):
        finding = post.get(key, "").strip()
        category = post.get(key.replace("critical_finding_", "critical_category_"), "")
        if finding:
            rows.append({"finding": finding, "category": category})
    return rows


@login_required
@require_POST
def report_save_page(request, pk: int):
    report = report_or_404(request, pk)
    # Without this, a draft autosaved with "\n" changes (and hashes) differently once posted.
    changes = {name: _text(request.POST, name) for name in SECTIONS if name in request.POST}
    changes["critical_findings"] = critical_from_post(request.POST)
    review = {
        entry["finding"]: request.POST[f"ai_{entry['finding']}"]
        for entry in report.ai_draft
        if request.POST.get(f"ai_{entry['finding']}")
    }
    if review:
        changes["ai_review"] = review
    if request.POST.get("language"):
        changes["language"] = request.POST["language"]
    try:
        saved = services.report_save(
            report_id=pk,
            user=request.user,
            request=request,
            revision=int(request.POST.get("revision", 0) or 0),
            changes=changes,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("case-detail", pk=report.case_id)
    action = request.POST.get("then")
    if action in SIGN_ACTIONS:
        return _sign_and_go_on(request, report, saved, action)
    messages.success(
        request, _("Draft saved (revision %(revision)s).") % {"revision": saved.revision}
    )
    return redirect("case-detail", pk=report.case_id)


# The sign bar's buttons: what to sign, and whether to go on to the next case at once.
SIGN_ACTIONS = {"preliminary": "preliminary", "final": "final", "final_next": "final"}


def critical_answers_from_post(post) -> list[dict]:
    """The answers of the critical-finding check: check_<key> = critical | not_critical, with
    check_<key>_category or check_<key>_reason."""
    answers = []
    for key in critical_rules.KEYS:
        decision = post.get(f"check_{key}")
        if decision in services.CRITICAL_DECISIONS:
            answers.append(
                {
                    "key": key,
                    "decision": decision,
                    "category": post.get(f"check_{key}_category", ""),
                    "reason": post.get(f"check_{key}_reason", ""),
                }
            )
    return answers


def _sign_and_go_on(request, report, saved, action: str):
    kind = SIGN_ACTIONS[action]
    try:
        services.report_sign(
            report_id=report.pk,
            user=request.user,
            request=request,
            kind=kind,
            password=request.POST.get("password", ""),
            revision=saved.revision,
            critical_answers=critical_answers_from_post(request.POST),
        )
    except DomainError as exc:
        messages.error(request, _("Saved, but not signed: %(reason)s") % {"reason": exc.message})
        # Straight to what needs an answer: the critical-finding check, or the empty section.
        where = {"critical_answers": "#critical-check", **{n: f"#id_{n}" for n in SECTIONS}}
        return redirect(reverse("case-detail", args=[report.case_id]) + where.get(exc.field, ""))
    if kind == "preliminary":
        messages.success(request, _("Preliminary report signed and sent; the final draft is open."))
        return redirect("case-detail", pk=report.case_id)
    messages.success(request, _("Final report signed and sent to the hospital."))
    if action == "final_next":
        return _next_case(request)
    return redirect("case-detail", pk=report.case_id)


def _next_case(request):
    """Sign-and-next: the reader's next case, as the worklist's "Next case" gives it."""
    from readingcenter.worklist.services import case_next

    try:
        case = case_next(user=request.user, request=request)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("worklist")
    if case is None:
        messages.info(request, _("Nothing left to read right now: no case you may read."))
        return redirect("worklist")
    return redirect("case-detail", pk=case.pk)


@login_required
@require_POST
def report_addendum_page(request, pk: int):
    report = report_or_404(request, pk)
    try:
        addendum = services.report_addendum(
            report_id=pk,
            user=request.user,
            password=request.POST.get("password", ""),
            text=_text(request.POST, "text"),
            critical_findings=critical_from_post(request.POST),
            request=request,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("report-detail", pk=report.pk)
    messages.success(
        request,
        _("Addendum signed as version %(version)s and sent.")
        % {"version": addendum.version_number},
    )
    return redirect("report-detail", pk=addendum.pk)


@login_required
def report_detail_page(request, pk: int):
    """One signed version, as the hospital reads it: status, text, signature, what was sent."""
    report = report_or_404(request, pk)
    audit_read_record(
        actor=request.user,
        action="report.read",
        target=report,
        hospital=report.hospital_id,
        patient_id=report.study.patient_id,
        request=request,
    )
    versions = selectors.signed_reports_for_study(user=request.user, study=report.study)
    context = {
        "report": report,
        "study": report.study,
        "versions": versions,
        "can_amend": request.user.is_radiologist
        and report.is_signed
        and report.kind in ("final", "addendum"),
        "categories": CriticalCategory.choices,
    }
    # Hook "reports.report_page": gather(report=, user=) -> extra context (delivery: what was
    # sent, "deliveries"; critical: "critical_results", the communication record). The user
    # may see the report; a part whose app is absent is simply not shown.
    for extra in hooks.gather("reports.report_page", report=report, user=request.user):
        context.update(extra)
    return render(request, "reports/detail.html", context)
