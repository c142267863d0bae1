"""Critical results over REST: the hospital's list, one result with its communication record,
and the acknowledgement (a hospital system with its token, or a manager recording a call)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter.api import AuditedReadMixin
from readingcenter.critical import selectors, services
from readingcenter.critical.models import (
    AckVia,
    CriticalNotification,
    CriticalResult,
    State,
)
from readingcenter.studies.api import HospitalRefSerializer
from readingcenter.worklist.api import UserRefSerializer


class ResultStudySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    study_instance_uid = serializers.CharField()
    accession_number = serializers.CharField()
    patient_name = serializers.CharField()
    patient_id = serializers.CharField()
    study_description = serializers.CharField()


class ResultReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    version_number = serializers.IntegerField(allow_null=True)
    signed_at = serializers.DateTimeField(allow_null=True)
    signed_by = UserRefSerializer(allow_null=True)
    signature_name = serializers.CharField()


class NotificationSerializer(serializers.ModelSerializer):
    contact = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = CriticalNotification
        fields = ["id", "level", "channel", "contact", "recipient", "recipient_name", "outcome",
                  "sent_at", "detail", "created_at"]  # fmt: skip


class CriticalResultSerializer(serializers.ModelSerializer):
    hospital = HospitalRefSerializer(read_only=True)
    study = ResultStudySerializer(read_only=True)
    report = ResultReportSerializer(read_only=True)
    acknowledged_by = UserRefSerializer(read_only=True, allow_null=True)
    category_label = serializers.CharField(source="get_category_display", read_only=True)
    acknowledge_url = serializers.SerializerMethodField(help_text="POST here to acknowledge")

    def get_acknowledge_url(self, result) -> str:
        return reverse("critical-result-acknowledge-api", args=[result.pk])

    class Meta:
        model = CriticalResult
        fields = ["id", "state", "finding", "category", "category_label", "level", "hospital",
                  "study", "report", "raised_at", "due_at", "escalated_at", "acknowledged_at",
                  "acknowledged_by", "acknowledged_by_name", "acknowledged_by_role", "read_back",
                  "ack_via", "note",
                  "acknowledge_url"]  # fmt: skip


class CriticalResultDetailSerializer(CriticalResultSerializer):
    notifications = NotificationSerializer(many=True, read_only=True)

    class Meta(CriticalResultSerializer.Meta):
        fields = [*CriticalResultSerializer.Meta.fields, "notifications"]


class AcknowledgementSerializer(CriticalResultDetailSerializer):
    acknowledged_now = serializers.SerializerMethodField(
        help_text="false when it was already acknowledged (this call changed nothing)"
    )

    def get_acknowledged_now(self, result) -> bool:
        return bool(getattr(result, "just_acknowledged", False))

    class Meta(CriticalResultDetailSerializer.Meta):
        fields = [*CriticalResultDetailSerializer.Meta.fields, "acknowledged_now"]


class CriticalResultFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=[*State.values, "all"], required=False, help_text="default: all, open first"
    )
    hospital = serializers.SlugField(required=False, help_text="hospital code")


@extend_schema(parameters=[CriticalResultFilterSerializer], tags=["critical results"])
class CriticalResultListApi(AuditedReadMixin, generics.ListAPIView):
    """The critical results the caller may see: open ones first (due soonest on top), then
    the acknowledged. Hospital users see their hospital's only."""

    serializer_class = CriticalResultSerializer
    audit_name = "critical_result"

    def get_queryset(self):
        filters = CriticalResultFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.critical_results_list(
            user=self.request.user, filters=filters.validated_data
        )

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit_read(many=len(response.data["results"]))
        return response


@extend_schema(tags=["critical results"])
class CriticalResultDetailApi(AuditedReadMixin, generics.RetrieveAPIView):
    """One critical result with its communication record: every notification (level, who,
    channel, when, outcome) and the acknowledgement (who, when, how)."""

    serializer_class = CriticalResultDetailSerializer
    audit_name = "critical_result"

    def get_object(self):
        result = selectors.critical_result_get(user=self.request.user, id=self.kwargs["pk"])
        self.audit_read(target=result, hospital=result.hospital_id,
                        patient_id=result.study.patient_id)  # fmt: skip
        return result


class AcknowledgeSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="who took it (default: the caller's name); required with via=phone",
    )
    role = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="",
        help_text="the receiver's role at the hospital, e.g. ED attending",
    )  # fmt: skip
    read_back = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="the receiver read the finding back and it was confirmed (required, true, "
        "with via=phone)",
    )  # fmt: skip
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    via = serializers.ChoiceField(
        choices=[AckVia.PHONE],
        required=False,
        allow_null=True,
        default=None,
        help_text="managers: 'phone', recording an acknowledgement taken by phone",
    )


@extend_schema(
    request=AcknowledgeSerializer,
    responses={
        200: AcknowledgementSerializer,
        400: OpenApiResponse(
            description="codes phone_only, name_required, via_not_allowed, read_back_required"
        ),
        403: OpenApiResponse(description="code not_allowed: radiologists do not acknowledge"),
        404: OpenApiResponse(description="no such critical result, or another hospital's"),
    },
    tags=["critical results"],
)
class CriticalResultAcknowledgeApi(APIView):
    """Acknowledge a critical result: the hospital knows, escalation stops. Pressing twice,
    or two systems at once, is not an error: the one acknowledgement recorded comes back
    (``acknowledged_now`` false for the later ones)."""

    audit_name = "critical_result"

    def post(self, request, pk: int):
        payload = AcknowledgeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        result = services.critical_result_acknowledge(
            critical_result_id=pk,
            user=request.user,
            via=data["via"] or AckVia.API,
            name=data["name"],
            role=data["role"],
            read_back=data["read_back"],
            note=data["note"],
            request=request,
        )
        just = result.just_acknowledged
        result = selectors.critical_result_get(user=request.user, id=pk)
        result.just_acknowledged = just
        return Response(AcknowledgementSerializer(result, context={"request": request}).data)
