"""Delivery over REST: where each signed version went (and a manager's retry), and the
signed report as PDF. Paths are under /api/v1/ (readingcenter/delivery/urls.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter.api import AuditedReadMixin, IsManager
from readingcenter.delivery import selectors, services
from readingcenter.delivery.models import Delivery
from readingcenter.delivery.views import pdf_response
from readingcenter.reports.selectors import report_get


class DeliverySerializer(serializers.ModelSerializer):
    endpoint = serializers.CharField(source="endpoint.name", read_only=True)
    target = serializers.CharField(source="endpoint.target", read_only=True)
    version_number = serializers.IntegerField(source="report.version_number", read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "report",
            "version_number",
            "channel",
            "endpoint",
            "target",
            "idempotency_key",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error_code",
            "last_error",
            "delivered_at",
            "receipt",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema_field(DeliverySerializer(many=True))
class ReportDeliveriesField(serializers.Field):
    """A report's ``deliveries`` in the report API (hook "reports.report_fields")."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, report) -> list[dict]:
        return DeliverySerializer(selectors.deliveries_for_report(report), many=True).data


class DeliveryFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["pending", "delivered", "failed"], required=False)
    report = serializers.IntegerField(required=False)
    hospital = serializers.CharField(required=False, help_text="hospital code (managers)")


@extend_schema(parameters=[DeliveryFilterSerializer], tags=["delivery"])
class DeliveryListApi(AuditedReadMixin, generics.ListAPIView):
    """Delivery status per report version and channel (a hospital sees its own)."""

    serializer_class = DeliverySerializer
    audit_name = "delivery"

    def get_queryset(self):
        filters = DeliveryFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.delivery_list(user=self.request.user, filters=filters.validated_data)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit_read(many=len(response.data.get("results", [])))
        return response


@extend_schema(request=None, responses={200: DeliverySerializer}, tags=["delivery"])
class DeliveryRetryApi(APIView):
    """Send a failed delivery again (managers), after its endpoint was fixed."""

    permission_classes = [IsManager]
    audit_name = "delivery"

    def post(self, request, pk: int):
        delivery = services.delivery_retry(delivery_id=pk, actor=request.user, request=request)
        return Response(DeliverySerializer(delivery).data)


@extend_schema(
    responses={(200, "application/pdf"): OpenApiResponse(description="the signed report")},
    tags=["reports"],
)
class ReportPdfApi(APIView):
    """The signed report as PDF (what the hospital's systems receive)."""

    audit_name = "report"

    def get(self, request, pk: int):
        report = report_get(user=request.user, report_id=pk)
        return pdf_response(request, report)
