"""Managers configure promises, calendars and escalation here. Every save goes through a
service, so open cases' deadlines move with the change and the audit trail has it."""

from django.contrib import admin

from readingcenter.audit.admin_mixins import AuditedAdminMixin, ReadOnlyAdmin, ReadOnlyInline
from readingcenter.sla.models import (
    BusinessHours,
    CaseEscalation,
    ClosedDate,
    EscalationTier,
    SlaNotification,
    SlaPolicy,
)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ("hospital", "priority", "target_minutes", "at_risk_percent", "clock_end",
                    "calendar", "updated_at")  # fmt: skip
    list_filter = ("hospital", "priority", "clock_end", "calendar")

    def save_model(self, request, obj, form, change):
        # Through the service, so the open cases' deadlines move with the promise.
        from readingcenter.sla.services import sla_policy_set

        saved = sla_policy_set(
            hospital=obj.hospital,
            priority=obj.priority,
            target_minutes=obj.target_minutes,
            at_risk_percent=obj.at_risk_percent,
            clock_end=obj.clock_end,
            calendar=obj.calendar,
            actor=request.user,
            request=request,
        )
        obj.pk = saved.pk  # the admin's "added" message and redirect need it


class _CalendarRowAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """A row of a hospital's calendar: after the change, the open cases of its business-hours
    promises get their deadlines again (in the same transaction as the admin's save)."""

    def _recompute(self, obj):
        from readingcenter.sla.services import _business_hours_priorities, _recompute_open_cases

        _recompute_open_cases(obj.hospital_id, _business_hours_priorities(obj.hospital_id))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        self._recompute(obj)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        self._recompute(obj)


@admin.register(BusinessHours)
class BusinessHoursAdmin(_CalendarRowAdmin):
    list_display = ("hospital", "weekday", "opens_at", "closes_at")
    list_filter = ("hospital", "weekday")


@admin.register(ClosedDate)
class ClosedDateAdmin(_CalendarRowAdmin):
    list_display = ("hospital", "date", "reason")
    list_filter = ("hospital",)
    date_hierarchy = "date"


@admin.register(EscalationTier)
class EscalationTierAdmin(admin.ModelAdmin):
    list_display = ("__str__", "hospital", "position", "priority", "trigger", "percent_used",
                    "action", "is_active")  # fmt: skip
    list_filter = ("hospital", "trigger", "action", "is_active")
    ordering = ("hospital__name", "position", "id")

    def save_model(self, request, obj, form, change):
        from readingcenter.sla import services

        fields = {name: getattr(obj, name) for name in services.TIER_FIELDS}
        if change:
            saved = services.escalation_tier_update(
                tier_id=obj.pk, actor=request.user, request=request, **fields
            )
        else:
            saved = services.escalation_tier_create(actor=request.user, request=request, **fields)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        from readingcenter.sla.services import escalation_tier_delete

        escalation_tier_delete(tier_id=obj.pk, actor=request.user, request=request)

    def delete_queryset(self, request, queryset):
        for tier in queryset:
            self.delete_model(request, tier)


class NotificationInline(ReadOnlyInline):
    model = SlaNotification
    fields = ("recipient", "channel", "address", "outcome", "sent_at", "read_at", "detail")
    readonly_fields = fields


@admin.register(CaseEscalation)
class CaseEscalationAdmin(ReadOnlyAdmin):
    list_display = ("performed_at", "case", "tier", "trigger", "action", "outcome", "assigned_to")
    list_filter = ("trigger", "action", "outcome")
    inlines = [NotificationInline]
