"""Turnaround analytics over REST: the same figures as the pages, as JSON.

Each view reads its inputs, calls one selector (already narrowed to the user) and serialises
the result. Only the SLA report names patients (its breach list), so only it is audited.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter.analytics import selectors
from readingcenter.analytics.params import filters_from_query, period_from_query
from readingcenter.api import AuditedReadMixin
from readingcenter.audit.services import audit_record

PERIOD_PARAMS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="first day (user's time zone)"),
    OpenApiParameter("to", OpenApiTypes.DATE, description="last day, inclusive"),
    OpenApiParameter("month", str, description="YYYY-MM instead of from/to"),
    OpenApiParameter("hospital", str, description="hospital code"),
    OpenApiParameter("modality", str, description="CT, MR, CR, ..."),
    OpenApiParameter("priority", str, enum=["stat", "urgent", "routine"]),
    OpenApiParameter("radiologist", int, description="reader's user id"),
]


class AnalyticsPeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="exclusive")


class AnalyticsTatRowSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    met = serializers.IntegerField(help_text="signed by their due time")
    compliance = serializers.FloatField(allow_null=True, help_text="0..1")
    final_p50 = serializers.FloatField(allow_null=True, help_text="minutes, arrival to final")
    final_p90 = serializers.FloatField(allow_null=True)
    final_p95 = serializers.FloatField(allow_null=True)
    preliminary_count = serializers.IntegerField()
    preliminary_p50 = serializers.FloatField(allow_null=True, help_text="arrival to preliminary")
    preliminary_p90 = serializers.FloatField(allow_null=True)
    preliminary_p95 = serializers.FloatField(allow_null=True)


class AnalyticsTatBreakdownSerializer(serializers.Serializer):
    period = AnalyticsPeriodSerializer()
    hour_zone = serializers.CharField(
        help_text="'hospital': each case's hospital's zone; else the IANA zone used"
    )
    overall = AnalyticsTatRowSerializer()
    by_hospital = AnalyticsTatRowSerializer(many=True)
    by_modality = AnalyticsTatRowSerializer(many=True)
    by_priority = AnalyticsTatRowSerializer(many=True)
    by_radiologist = AnalyticsTatRowSerializer(many=True)
    by_hour = AnalyticsTatRowSerializer(many=True, help_text="24 rows, hour of arrival")


class AnalyticsQueueRowSerializer(serializers.Serializer):
    priority = serializers.CharField()
    open = serializers.IntegerField()
    oldest_arrived_at = serializers.DateTimeField(allow_null=True)
    at_risk = serializers.IntegerField()
    breached = serializers.IntegerField()


class AnalyticsOverviewSerializer(serializers.Serializer):
    now = serializers.DateTimeField()
    queue = AnalyticsQueueRowSerializer(many=True)
    signed = serializers.IntegerField()
    met = serializers.IntegerField()
    compliance = serializers.FloatField(allow_null=True)
    compliance_by_hospital = AnalyticsTatRowSerializer(many=True)


class AnalyticsProductivityRowSerializer(serializers.Serializer):
    radiologist_id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()
    reads = serializers.IntegerField()
    weighted_reads = serializers.IntegerField(help_text="reads that matched an RVU weight")
    rvu = serializers.DecimalField(max_digits=12, decimal_places=2)
    met = serializers.IntegerField()


class AnalyticsAiRowSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    model_version = serializers.CharField()
    reports = serializers.IntegerField()
    sentences = serializers.IntegerField()
    kept = serializers.IntegerField()
    edited = serializers.IntegerField()
    removed = serializers.IntegerField()
    confirmed = serializers.IntegerField(help_text="kept + edited")
    confirmed_rate = serializers.FloatField(allow_null=True)
    mean_similarity = serializers.FloatField(allow_null=True)
    critical_studies = serializers.IntegerField()
    critical_unflagged = serializers.IntegerField()
    critical_missed_rate = serializers.FloatField(allow_null=True)


class AnalyticsAiPerformanceSerializer(serializers.Serializer):
    rows = AnalyticsAiRowSerializer(many=True)
    critical_reports = serializers.IntegerField()
    critical_without_ai = serializers.IntegerField()


class AnalyticsSlaRowSerializer(serializers.Serializer):
    priority = serializers.CharField()
    count = serializers.IntegerField()
    target_minutes = serializers.IntegerField()
    p50 = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)
    met = serializers.IntegerField()
    compliance = serializers.FloatField(allow_null=True)
    clock_end = serializers.CharField(help_text="what stops the clock: preliminary or final")
    counting = serializers.CharField(help_text="24/7 or business hours")


class AnalyticsBreachSerializer(serializers.Serializer):
    case_id = serializers.IntegerField()
    accession_number = serializers.CharField()
    patient_id = serializers.CharField()
    priority = serializers.CharField()
    arrived_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    signed_at = serializers.DateTimeField(
        help_text="when the report that stops the clock was signed"
    )
    minutes_late = serializers.FloatField()


class AnalyticsSlaHospitalSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    time_zone = serializers.CharField()


class AnalyticsSlaReportSerializer(serializers.Serializer):
    hospital = AnalyticsSlaHospitalSerializer()
    month = serializers.CharField()
    period = AnalyticsPeriodSerializer()
    count = serializers.IntegerField()
    met = serializers.IntegerField()
    rows = AnalyticsSlaRowSerializer(many=True)
    breaches = AnalyticsBreachSerializer(many=True)


class _AnalyticsApi(APIView):
    def inputs(self):
        user = self.request.user
        if not (user.is_manager or user.is_hospital_user or user.is_radiologist):
            raise PermissionDenied(_("Analytics are for managers, hospitals and radiologists."))
        return period_from_query(self.request.query_params, user), filters_from_query(
            self.request.query_params
        )


class TatApi(_AnalyticsApi):
    @extend_schema(
        summary="TAT percentiles, compliance and volumes, overall and per dimension",
        parameters=[
            *PERIOD_PARAMS,
            OpenApiParameter(
                "tz", str, description="IANA zone for hour of day; default each hospital's"
            ),
        ],
        responses=AnalyticsTatBreakdownSerializer,
    )
    def get(self, request):
        period, filters = self.inputs()
        zone = request.query_params.get("tz") or None
        found = selectors.tat_breakdown(user=request.user, period=period, filters=filters,
                                        zone=zone)  # fmt: skip
        return Response(AnalyticsTatBreakdownSerializer(found).data)


class OverviewApi(_AnalyticsApi):
    @extend_schema(
        summary="Open queue by priority now, and the period's SLA compliance",
        parameters=PERIOD_PARAMS,
        responses=AnalyticsOverviewSerializer,
    )
    def get(self, request):
        period, filters = self.inputs()
        found = selectors.overview(user=request.user, period=period, filters=filters)
        return Response(AnalyticsOverviewSerializer(found).data)


class ProductivityApi(_AnalyticsApi):
    @extend_schema(
        summary="Final reads and RVUs per radiologist",
        parameters=PERIOD_PARAMS,
        responses=AnalyticsProductivityRowSerializer(many=True),
    )
    def get(self, request):
        period, filters = self.inputs()
        found = selectors.productivity(user=request.user, period=period, filters=filters)
        return Response(AnalyticsProductivityRowSerializer(found, many=True).data)


class AiPerformanceApi(_AnalyticsApi):
    @extend_schema(
        summary="AI sentences against the signed final reports, per model version",
        parameters=PERIOD_PARAMS,
        responses=AnalyticsAiPerformanceSerializer,
    )
    def get(self, request):
        period, filters = self.inputs()
        found = selectors.ai_performance(user=request.user, period=period, filters=filters)
        return Response(AnalyticsAiPerformanceSerializer(found).data)


class SlaReportApi(AuditedReadMixin, APIView):
    audit_name = "analytics.sla_report"

    @extend_schema(
        summary="A hospital's monthly SLA report: promised vs delivered, and every breach",
        description="The month is the hospital's calendar month in its own time zone. "
        "Another hospital's report answers 404.",
        responses=AnalyticsSlaReportSerializer,
    )
    def get(self, request, code: str, month: str):
        report = selectors.sla_report(user=request.user, hospital_code=code, month=month)
        # The breach list names accessions and patients: a read of patient data.
        accessions = [b.accession_number for b in report.breaches][:500]
        audit_record(
            actor=request.user,
            action="analytics.sla_report.read",
            target=report.hospital,
            hospital=report.hospital,
            request=request,
            detail={"month": report.month, "format": "json", "accessions": accessions},
        )
        return Response(AnalyticsSlaReportSerializer(report).data)
