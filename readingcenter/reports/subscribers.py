"""What the reports app answers on the hook points of the layers below it (readingcenter.hooks).

Imported by ReportsConfig.ready().
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from readingcenter import hooks
from readingcenter.errors import DomainError
from readingcenter.reports.models import SECTIONS, CriticalCategory, Report
from readingcenter.reports.selectors import macros_for, signed_reports_for_study
from readingcenter.reports.services import SECTION_LABELS, critical_prompts, report_open_draft


@hooks.subscribe("audit.study_targets")
def audit_study_targets(*, study_id: int) -> Q:
    # The study's reports, each audited under its own target.
    report_ids = [
        str(pk) for pk in Report.objects.filter(study_id=study_id).values_list("pk", flat=True)
    ]
    return Q(target_type="reports.report", target_id__in=report_ids)


@hooks.subscribe("audit.target_link")
def audit_target_link(*, event) -> str | None:
    if event.target_type == "reports.report" and event.target_id.isdigit():
        return reverse("report-detail", args=[int(event.target_id)])
    return None


@hooks.subscribe("studies.study_page")
def study_page(*, study, user) -> dict:
    # The hospital's view of its reports: signed versions only, with their delivery.
    versions = signed_reports_for_study(user=user, study=study)
    return {
        "versions": versions,
        "reported": any(v.kind in ("final", "addendum") for v in versions),
    }


AI_REVIEW_CHOICES = [
    ("pending", gettext_lazy("Not yet reviewed")),
    ("accepted", pgettext_lazy("AI sentence", "Accept")),
    ("edited", gettext_lazy("Accept, edited")),
    ("rejected", pgettext_lazy("AI sentence", "Reject")),
]


def editor_shortcut_labels() -> dict:
    """What the editor's keyboard shortcuts do, in the reader's language (the help lists them)."""
    return {
        "accept": _("Accept the focused AI sentence"),
        "reject": _("Reject the focused AI sentence"),
        "next_sentence": _("Next AI sentence"),
        "previous_sentence": _("Previous AI sentence"),
        "save": _("Save the draft"),
        "sign": _("Sign the final report (then your password and Enter)"),
        "sign_next": _("Sign the final report and open the next case"),
    }


@hooks.subscribe("worklist.case_page")
def case_page(*, case, user, request) -> dict:
    """The reader's draft (opened on his first visit to his open case) and the signed versions
    of the report. The editor saves to this app's own routes (report-save)."""
    draft = None
    if case.claimed_by_id == user.id and case.is_open:
        try:
            draft = report_open_draft(case_id=case.pk, user=user, request=request)
        except DomainError as exc:
            messages.error(request, exc.message)
    context = {"draft": draft, "versions": signed_reports_for_study(user=user, study=case.study)}
    if draft is not None:
        macros = macros_for(user=user, language=draft.language)
        context |= {
            "sections": [(name, SECTION_LABELS[name], getattr(draft, name)) for name in SECTIONS],
            "ai_entries": [
                (e, draft.ai_review.get(e["finding"], "pending")) for e in draft.ai_draft
            ],
            "ai_review_choices": AI_REVIEW_CHOICES,
            "critical_rows": [*draft.critical_findings, {"finding": "", "category": "minutes"}],
            # The critical-finding check signing will make, as the saved draft stands.
            "critical_prompts": [p for p in critical_prompts(draft) if not p["marked"]],
            "categories": CriticalCategory.choices,
            "macros": macros,
            # Inside a <script type="application/json">: "<" escaped so no text ends the tag.
            "macros_json": json.dumps(macros).replace("<", "\\u003c"),
            "shortcut_labels_json": json.dumps(editor_shortcut_labels()).replace("<", "\\u003c"),
        }
    return context
