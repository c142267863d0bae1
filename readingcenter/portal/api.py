"""The portal for hospital systems: each study's status, deadline, report versions and
where each version was delivered. Hospital users (tokens) only; another hospital's study
answers 404 like one that does not exist."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, permissions, serializers
from rest_framework.reverse import reverse

from readingcenter.api import AuditedReadMixin
from readingcenter.delivery.api import DeliverySerializer
from readingcenter.followups.selectors import followups_for_hospital
from readingcenter.portal import selectors
from readingcenter.portal.selectors import PortalStatus, case_of
from readingcenter.reports.models import Report


class IsHospitalUser(permissions.BasePermission):
    message = gettext_lazy("The portal is for hospital users.")

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.is_hospital_user and user.hospital_id)


class PortalReportSerializer(serializers.ModelSerializer):
    status = serializers.CharField(source="delivery_status", read_only=True)
    signed_by = serializers.CharField(source="signature_name", read_only=True)
    url = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta:
        model = Report
        fields = [
            "id",
            "kind",
            "status",
            "version_number",
            "signed_at",
            "signed_by",
            "url",
            "pdf_url",
            "deliveries",
        ]
        read_only_fields = fields

    def get_url(self, report) -> str:
        return reverse("report-api-detail", args=[report.pk], request=self.context.get("request"))

    def get_pdf_url(self, report) -> str:
        return reverse("report-pdf-api", args=[report.pk], request=self.context.get("request"))


class PortalStudySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    study_instance_uid = serializers.CharField()
    accession_number = serializers.CharField()
    patient_id = serializers.CharField()
    patient_name = serializers.CharField()
    study_description = serializers.CharField()
    modalities = serializers.ListField(child=serializers.CharField())
    priority = serializers.CharField()
    received_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=PortalStatus.choices, source="portal_status")
    deadline = serializers.SerializerMethodField()
    sla_status = serializers.SerializerMethodField()
    seconds_left = serializers.SerializerMethodField()
    order = serializers.IntegerField(source="order_id", allow_null=True)
    reports = PortalReportSerializer(many=True, source="signed_reports")

    def _open_case(self, study):
        case = case_of(study)
        return case if case is not None and case.is_open else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_deadline(self, study):
        case = self._open_case(study)
        return serializers.DateTimeField().to_representation(case.due_at) if case else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_sla_status(self, study):
        case = self._open_case(study)
        return case.sla_status(self.context["now"]) if case else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_seconds_left(self, study):
        case = self._open_case(study)
        return case.seconds_left(self.context["now"]) if case else None


class PortalStudyFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PortalStatus.choices, required=False)
    since = serializers.DateField(required=False, help_text="arrived on or after (user's zone)")
    until = serializers.DateField(required=False, help_text="arrived on or before (user's zone)")
    q = serializers.CharField(
        required=False,
        max_length=100,
        help_text="accession number or patient ID, or part of the name",
    )


class _PortalStudyMixin(AuditedReadMixin):
    permission_classes = [IsHospitalUser]
    serializer_class = PortalStudySerializer
    audit_name = "study"

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}


@extend_schema(parameters=[PortalStudyFilterSerializer], tags=["portal"])
class PortalStudyListApi(_PortalStudyMixin, generics.ListAPIView):
    """The caller's hospital's studies, newest first, from arrival to final report."""

    def get_queryset(self):
        filters = PortalStudyFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.portal_studies(user=self.request.user, filters=filters.validated_data)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit_read(many=len(response.data["results"]), hospital=request.user.hospital_id)
        return response


@extend_schema(tags=["portal"])
class PortalStudyDetailApi(_PortalStudyMixin, generics.RetrieveAPIView):
    def get_object(self):
        study = selectors.portal_study_get(user=self.request.user, study_id=self.kwargs["pk"])
        self.audit_read(target=study, hospital=study.hospital_id, patient_id=study.patient_id)
        return study


class PortalFollowUpSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=["open", "overdue", "done"])
    patient_id = serializers.CharField()
    issuer_of_patient_id = serializers.CharField()
    modality = serializers.CharField(help_text="empty: any later study does it")
    due_date = serializers.DateField()
    sentence = serializers.CharField(help_text="the report's words, in its language")
    language = serializers.CharField()
    accession_number = serializers.CharField(source="study.accession_number")
    closed_by_accession_number = serializers.CharField(
        source="closed_by.accession_number", allow_null=True, default=None
    )


class PortalFollowUpFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["open", "overdue", "done"], required=False)


@extend_schema(tags=["portal"], parameters=[PortalFollowUpFilterSerializer])
class PortalFollowUpListApi(AuditedReadMixin, generics.ListAPIView):
    """The follow-ups our signed reports recommended for the hospital's patients, tracked
    until a matching study arrives; overdue ones first."""

    serializer_class = PortalFollowUpSerializer
    permission_classes = [permissions.IsAuthenticated, IsHospitalUser]
    audit_name = "followup"

    def get_queryset(self):
        filters = PortalFollowUpFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return followups_for_hospital(user=self.request.user,
                                      state=filters.validated_data.get("state", ""))  # fmt: skip

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit_read(many=len(response.data["results"]))
        return response
