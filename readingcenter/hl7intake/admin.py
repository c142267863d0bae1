from django.contrib import admin

from readingcenter.hl7intake.models import InboundMessage


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    """What the hospitals' engines sent, and what we answered: read only, it is the record."""

    list_display = ("received_at", "hospital", "sending_facility", "message_type", "control_id",
                    "ack_code", "error_code")  # fmt: skip
    list_filter = ("ack_code", "message_type", "hospital")
    search_fields = ("control_id", "sending_facility", "error_text")
    readonly_fields = ("message_text",)

    @admin.display(description="message")
    def message_text(self, obj: InboundMessage) -> str:
        from readingcenter.hl7intake.er7 import CHARSETS

        codec = CHARSETS.get((obj.charset or "").upper()) or "utf-8"
        return bytes(obj.raw).decode(codec, errors="replace").replace("\r", "\n")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
