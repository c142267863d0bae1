"""The audit trail for managers and administrators: search it, page through it, export it."""

from __future__ import annotations

import csv
import json
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from readingcenter import hooks
from readingcenter.audit import selectors
from readingcenter.audit.forms import AuditSearchForm
from readingcenter.audit.services import audit_record
from readingcenter.audit.templatetags.audit_words import target_noun

PAGE_SIZE = 50
# What the trail's lines are about, for the target filter (the types audit_record writes).
TARGET_TYPES = (
    "studies.study", "worklist.case", "reports.report", "critical.criticalresult",
    "delivery.delivery", "sla.slapolicy", "sla.escalationtier", "hospitals.hospital",
    "accounts.user", "ops.dashboard", "audit.auditevent",
)  # fmt: skip
# The same fields the API shows, in the same order.
CSV_COLUMNS = selectors.EXPORT_FIELDS


def _require_manager(user) -> None:
    if not user.is_manager:
        raise PermissionDenied(_("The audit trail is for managers and administrators."))


def _annotate(events: list) -> None:
    """Each line with its hospital's code and a link to its target, for the page."""
    from readingcenter.hospitals.models import Hospital

    ids = {e.hospital_id for e in events if e.hospital_id}
    codes = dict(Hospital.objects.filter(pk__in=ids).values_list("pk", "code")) if ids else {}
    for e in events:
        e.hospital_code = codes.get(e.hospital_id, e.hospital_id or "")
        # Hook point "audit.target_link": first(event=AuditEvent) -> the URL of the page a
        # manager opens for the line's target (the page re-checks access), or None when the
        # target is not the subscriber's. Each app links its own targets, without a query.
        e.target_url = hooks.first("audit.target_link", default="", event=e)


def _search(request) -> tuple[AuditSearchForm, dict, str]:
    form = AuditSearchForm(request.GET or None)
    filters = form.filters() if request.GET else {}
    raw = {k: request.GET[k] for k in selectors.FILTERS if request.GET.get(k) and k in filters}
    return form, filters, urlencode(raw)


@login_required
def audit_search_page(request):
    _require_manager(request.user)
    form, filters, query = _search(request)
    try:
        page = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        page = 1
    events, has_next = selectors.audit_page(
        selectors.audit_events(user=request.user, filters=filters), page=page, size=PAGE_SIZE
    )
    _annotate(events)
    # Reading the trail is itself on the trail: who looked for whom.
    audit_record(
        actor=request.user,
        action="audit.search",
        target_type="audit.auditevent",
        request=request,
        detail={"filters": query, "page": page, "results": len(events)},
    )
    return render(
        request,
        "audit/search.html",
        {
            "form": form,
            "events": events,
            "page": page,
            "has_next": has_next,
            "query": query,
            "export_url": f"{reverse('audit-export')}?{query}",
            # Named per request: in the reader's language.
            "target_types": [(value, target_noun(value)) for value in TARGET_TYPES],
        },
    )


class _Echo:
    def write(self, value):
        return value


@login_required
def audit_export(request):
    """The filtered trail as CSV, streamed: rows are read in chunks with a server-side cursor
    and written as they come, so an export of millions of rows holds one chunk in memory."""
    _require_manager(request.user)
    _form, filters, query = _search(request)
    events = selectors.audit_events(user=request.user, filters=filters)
    audit_record(
        actor=request.user,
        action="audit.export",
        target_type="audit.auditevent",
        request=request,
        detail={"filters": query},
    )
    zone = timezone.get_current_timezone()  # the rows are written after the view returns

    def lines():
        writer = csv.writer(_Echo())
        yield writer.writerow(CSV_COLUMNS)
        for e in events.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    e.id,
                    timezone.localtime(e.at, zone).isoformat(),
                    e.actor_label,
                    e.actor_id or "",
                    e.action,
                    e.outcome,
                    e.target_type,
                    e.target_id,
                    e.hospital_id or "",
                    e.patient_id,
                    e.ip_address or "",
                    e.user_agent,
                    json.dumps(e.detail, ensure_ascii=False, sort_keys=True),
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
    return response
