from django.contrib import admin

from readingcenter.audit.admin_mixins import AuditedAdminMixin
from readingcenter.pacs.models import IngestCursor


@admin.register(IngestCursor)
class IngestCursorAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "last_seq",
        "resync_needed",
        "resyncs",
        "last_polled_at",
        "last_swept_at",
    ]
    readonly_fields = ["last_polled_at", "last_swept_at", "resyncs"]
