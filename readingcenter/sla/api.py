"""SLA over REST: promises with their clocks, hospital calendars, escalation tiers (managers),
the escalation record, and each reader's own notifications. Views validate, call one service
or selector, and serialise."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter.api import IsManager
from readingcenter.errors import DomainError, NotFound
from readingcenter.hospitals.selectors import hospital_by_code
from readingcenter.sla import selectors, services
from readingcenter.sla.models import (
    Action,
    BusinessHours,
    CalendarKind,
    CaseEscalation,
    ClockEnd,
    ClosedDate,
    EscalationTier,
    SlaNotification,
    SlaPolicy,
    Trigger,
)
from readingcenter.studies.api import PriorityField
from readingcenter.studies.models import Priority


def _hospital(code: str, field: str = "hospital"):
    hospital = hospital_by_code(code)
    if hospital is None:
        raise DomainError("hospital_unknown", _("No hospital has that code."), field=field)
    return hospital


# -- policies with their clocks -------------------------------------------------------------------


class SlaClockPolicySerializer(serializers.ModelSerializer):
    hospital = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = SlaPolicy
        fields = ["id", "hospital", "priority", "target_minutes", "at_risk_percent", "clock_end",
                  "calendar", "updated_at"]  # fmt: skip


class SlaClockPolicySetSerializer(serializers.Serializer):
    hospital = serializers.SlugField(help_text="hospital code")
    priority = PriorityField(help_text="STAT, urgent or routine")
    target_minutes = serializers.IntegerField(min_value=1, max_value=60 * 24 * 30)
    at_risk_percent = serializers.IntegerField(min_value=1, max_value=99, default=75)
    clock_end = serializers.ChoiceField(
        choices=ClockEnd.choices,
        required=False,
        help_text="default: unchanged (final for a new one)",
    )
    calendar = serializers.ChoiceField(
        choices=CalendarKind.choices,
        required=False,
        help_text="default: unchanged (24x7 for a new one)",
    )


@extend_schema(tags=["sla"])
class PolicyListApi(generics.ListCreateAPIView):
    """Each hospital's promises: minutes from study completion to the preliminary or final
    report, counted 24/7 or in business hours. POST sets one (managers); open cases move."""

    serializer_class = SlaClockPolicySerializer

    def get_queryset(self):
        return selectors.sla_policy_list(user=self.request.user)

    @extend_schema(request=SlaClockPolicySetSerializer, responses={201: SlaClockPolicySerializer})
    def post(self, request, *args, **kwargs):
        if not request.user.is_manager:
            raise DomainError("not_a_manager", _("Only managers set SLA policies."), status=403)
        payload = SlaClockPolicySetSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        policy = services.sla_policy_set(
            hospital=_hospital(data.pop("hospital")), actor=request.user, request=request, **data
        )
        return Response(SlaClockPolicySerializer(policy).data, status=status.HTTP_201_CREATED)


# -- calendars ------------------------------------------------------------------------------------


class SlaHoursSerializer(serializers.ModelSerializer):
    closes_at = serializers.SerializerMethodField(help_text="24:00 for midnight")

    def get_closes_at(self, row) -> str:
        return "24:00" if row.closes_at == dt.time(0, 0) else row.closes_at.strftime("%H:%M")

    class Meta:
        model = BusinessHours
        fields = ["weekday", "opens_at", "closes_at"]


class SlaClosedDateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClosedDate
        fields = ["date", "reason"]


class SlaCalendarSerializer(serializers.Serializer):
    hospital = serializers.CharField()
    time_zone = serializers.CharField()
    hours = SlaHoursSerializer(many=True)
    closed = SlaClosedDateSerializer(many=True)


class SlaHoursInSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 Monday, 6 Sunday")
    opens_at = serializers.CharField(help_text="HH:MM, hospital's local time")
    closes_at = serializers.CharField(help_text="HH:MM; 24:00 for midnight")


class SlaCalendarSetSerializer(serializers.Serializer):
    hours = SlaHoursInSerializer(many=True)


class SlaClosedDateInSerializer(serializers.Serializer):
    date = serializers.DateField()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=200)


def _calendar_body(user, hospital) -> dict:
    found = selectors.calendar_for_hospital(user=user, hospital_id=hospital.pk)
    return SlaCalendarSerializer(
        {"hospital": hospital.code, "time_zone": hospital.time_zone, **found}
    ).data


@extend_schema(tags=["sla"])
class CalendarApi(APIView):
    """A hospital's business hours (its own time zone) and closed dates. Managers and the
    hospital's own users read it; PUT replaces the weekly hours (managers)."""

    @extend_schema(responses={200: SlaCalendarSerializer})
    def get(self, request, code):
        hospital = hospital_by_code(code)
        if hospital is None:
            raise NotFound(_("No such hospital."))
        return Response(_calendar_body(request.user, hospital))

    @extend_schema(request=SlaCalendarSetSerializer, responses={200: SlaCalendarSerializer})
    def put(self, request, code):
        if not request.user.is_manager:
            raise DomainError("not_a_manager", _("Only managers set business hours."), status=403)
        hospital = _hospital(code)
        payload = SlaCalendarSetSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        hours = [
            (h["weekday"], h["opens_at"], h["closes_at"]) for h in payload.validated_data["hours"]
        ]
        services.business_hours_set(
            hospital=hospital, hours=hours, actor=request.user, request=request
        )
        return Response(_calendar_body(request.user, hospital))


@extend_schema(tags=["sla"])
class ClosedDateApi(APIView):
    """POST closes a local date (a holiday) for a hospital's business-hours clocks; DELETE
    with ?date=YYYY-MM-DD reopens it. Managers only."""

    permission_classes = [IsManager]

    @extend_schema(request=SlaClosedDateInSerializer, responses={201: SlaClosedDateSerializer})
    def post(self, request, code):
        payload = SlaClosedDateInSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        row = services.closed_date_set(
            hospital=_hospital(code),
            date=payload.validated_data["date"],
            reason=payload.validated_data.get("reason", ""),
            actor=request.user,
            request=request,
        )
        return Response(SlaClosedDateSerializer(row).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: OpenApiResponse(description="reopened")})
    def delete(self, request, code):
        payload = SlaClosedDateInSerializer(data=request.query_params)
        payload.is_valid(raise_exception=True)
        if not services.closed_date_remove(
            hospital=_hospital(code), date=payload.validated_data["date"],
            actor=request.user, request=request,
        ):  # fmt: skip
            raise NotFound(_("That date is not closed."))
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- escalation tiers -----------------------------------------------------------------------------


class SlaTierSerializer(serializers.ModelSerializer):
    hospital = serializers.SlugRelatedField(
        slug_field="code",
        read_only=True,
        allow_null=True,
        help_text="null: the default for every hospital",
    )
    label = serializers.CharField(read_only=True)

    class Meta:
        model = EscalationTier
        fields = ["id", "hospital", "position", "name", "label", "priority", "trigger",
                  "percent_used", "action", "is_active", "updated_at"]  # fmt: skip


class SlaTierInSerializer(serializers.Serializer):
    hospital = serializers.SlugField(
        required=False, allow_null=True, help_text="hospital code; null or absent: global default"
    )
    position = serializers.IntegerField(min_value=0, max_value=1000, required=False)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    priority = serializers.ChoiceField(
        choices=[("", "every priority"), *Priority.choices], required=False, allow_blank=True
    )
    trigger = serializers.ChoiceField(choices=Trigger.choices)
    percent_used = serializers.IntegerField(
        min_value=1, max_value=1000, required=False, allow_null=True
    )
    action = serializers.ChoiceField(choices=Action.choices)
    is_active = serializers.BooleanField(required=False)  # fmt: skip


def _tier_fields(data: dict) -> dict:
    data = dict(data)
    if "hospital" in data:
        code = data.pop("hospital")
        data["hospital"] = _hospital(code) if code else None
    return data


@extend_schema(tags=["sla"])
class TierListApi(generics.ListCreateAPIView):
    """Escalation tiers (managers): per hospital or global, in position order, each a trigger
    (at_risk, breached, or percent of the time used) and an action."""

    serializer_class = SlaTierSerializer
    permission_classes = [IsManager]
    pagination_class = None

    def get_queryset(self):
        return selectors.escalation_tier_list(user=self.request.user)

    @extend_schema(request=SlaTierInSerializer, responses={201: SlaTierSerializer})
    def post(self, request, *args, **kwargs):
        payload = SlaTierInSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        tier = services.escalation_tier_create(
            actor=request.user, request=request, **_tier_fields(payload.validated_data)
        )
        return Response(SlaTierSerializer(tier).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["sla"])
class TierDetailApi(APIView):
    """One tier: PATCH changes it; DELETE removes it, or switches it off when steps it took
    are on record (``{"deleted": false, "is_active": false}``)."""

    permission_classes = [IsManager]

    @extend_schema(responses={200: SlaTierSerializer})
    def get(self, request, pk):
        return Response(
            SlaTierSerializer(selectors.escalation_tier_get(user=request.user, id=pk)).data
        )

    @extend_schema(request=SlaTierInSerializer, responses={200: SlaTierSerializer})
    def patch(self, request, pk):
        payload = SlaTierInSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        tier = services.escalation_tier_update(
            tier_id=pk, actor=request.user, request=request, **_tier_fields(payload.validated_data)
        )
        return Response(SlaTierSerializer(tier).data)

    @extend_schema(responses={200: OpenApiResponse(description="deleted or switched off")})
    def delete(self, request, pk):
        deleted = services.escalation_tier_delete(tier_id=pk, actor=request.user, request=request)
        return Response({"deleted": deleted, "is_active": False})


# -- the record and the reader's notifications ----------------------------------------------------


class SlaEscalationSerializer(serializers.ModelSerializer):
    tier = SlaTierSerializer(read_only=True)
    assigned_to = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = CaseEscalation
        fields = ["id", "case", "tier", "trigger", "action", "due_at", "performed_at", "outcome",
                  "detail", "recipients", "assigned_to"]  # fmt: skip


class SlaEscalationFilterSerializer(serializers.Serializer):
    case = serializers.IntegerField(required=False)


@extend_schema(parameters=[SlaEscalationFilterSerializer], tags=["sla"])
class EscalationListApi(generics.ListAPIView):
    """Escalation steps taken on cases (managers: all; radiologists: cases of hospitals where
    they hold a privilege), newest first; ?case= for one case's record."""

    serializer_class = SlaEscalationSerializer

    def get_queryset(self):
        filters = SlaEscalationFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.escalation_list(
            user=self.request.user, case_id=filters.validated_data.get("case")
        )


class SlaNotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = SlaNotification
        fields = ["id", "case", "message", "created_at", "read_at"]


class SlaNotificationFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, default=False)


class SlaNotificationReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), required=False,
                                help_text="absent: all of them")  # fmt: skip


@extend_schema(parameters=[SlaNotificationFilterSerializer], tags=["sla"])
class NotificationListApi(generics.ListAPIView):
    """The caller's own SLA notifications (cases at risk or breached that he was told about)."""

    serializer_class = SlaNotificationSerializer

    def get_queryset(self):
        filters = SlaNotificationFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.notifications_for_user(
            user=self.request.user, unread_only=filters.validated_data["unread"]
        )


@extend_schema(tags=["sla"])
class NotificationReadApi(APIView):
    """Mark the caller's notifications read."""

    @extend_schema(request=SlaNotificationReadSerializer,
                   responses={200: OpenApiResponse(description='{"marked": n}')})  # fmt: skip
    def post(self, request):
        payload = SlaNotificationReadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        marked = services.sla_notifications_mark_read(
            user=request.user, ids=payload.validated_data.get("ids")
        )
        return Response({"marked": marked})
