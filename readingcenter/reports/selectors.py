"""Reads of reports, already filtered for the user asking.

A hospital user sees the signed versions of his own hospital's reports, never a draft; a
radiologist the reports of hospitals where his privilege is valid today; a manager all.
Anything else answers NotFound (404), like a report that does not exist.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from readingcenter import hooks
from readingcenter.accounts.selectors import privileged_hospitals_q
from readingcenter.errors import NotFound
from readingcenter.reports.models import Macro, Report, ReportState, ReportTemplate


def _visible(user) -> QuerySet[Report]:
    qs = Report.objects.select_related("study", "hospital", "signed_by", "parent", "case")
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.is_manager:
        return qs
    if user.is_hospital_user:
        return qs.filter(hospital_id=user.hospital_id, state=ReportState.SIGNED)
    if user.is_radiologist:
        return qs.filter(privileged_hospitals_q(user))
    return qs.none()


def _with_extras(qs: QuerySet[Report]) -> QuerySet[Report]:
    """What the apps above show with every report of the API, read once for a whole list.

    Hook "reports.report_prefetch": gather() -> a Prefetch (or lookup) for ``prefetch_related``
    (delivery: each version's deliveries, which the fields of "reports.report_fields" read).
    """
    return qs.prefetch_related(*hooks.gather("reports.report_prefetch"))


def report_list(*, user, filters: dict | None = None) -> QuerySet[Report]:
    filters = filters or {}
    qs = _visible(user)
    if filters.get("study"):
        qs = qs.filter(study_id=filters["study"])
    if filters.get("case"):
        qs = qs.filter(case_id=filters["case"])
    if filters.get("state"):
        qs = qs.filter(state=filters["state"])
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("accession_number"):
        qs = qs.filter(study__accession_number=filters["accession_number"])
    return _with_extras(qs).order_by("-signed_at", "-id")


def report_get(*, user, report_id: int) -> Report:
    report = _with_extras(_visible(user)).filter(pk=report_id).first()
    if report is None:
        raise NotFound(_("No such report."))
    return report


def signed_reports_for_study(*, user, study) -> list[Report]:
    return list(
        _visible(user)
        .filter(study=study, state=ReportState.SIGNED)
        .prefetch_related("deliveries__endpoint")
        .order_by("version_number")
    )


def macros_for(*, user, language: str = "en") -> dict[str, str]:
    """Codes the user may type in a report in ``language``: the shared ones, overridden by his
    own; a code with no text in that language expands to its English text."""
    order = list(dict.fromkeys(("en", language)))
    rows = Macro.objects.filter(Q(owner=None) | Q(owner=user), language__in=order).values_list(
        "code", "text", "language", "owner_id"
    )
    # One read per save; applied English first, then the report's language, shared before own
    # within each, so that the last written (the report's language, his own) wins.
    ranked = sorted(rows, key=lambda row: (order.index(row[2]), row[3] is not None))
    macros = {code: text for code, text, _lang, _owner in ranked}
    return dict(sorted(macros.items()))


def template_list() -> QuerySet[ReportTemplate]:
    return ReportTemplate.objects.filter(is_active=True)
