from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter.api import AuditedReadMixin, IsManager
from readingcenter.errors import DomainError
from readingcenter.hospitals.selectors import hospital_by_code
from readingcenter.studies import selectors, services
from readingcenter.studies.models import Order, Priority, Series, Study, StudyStatus


class HospitalRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class SeriesSerializer(serializers.ModelSerializer):
    class Meta:
        model = Series
        fields = [
            "series_instance_uid",
            "series_number",
            "modality",
            "series_description",
            "body_part_examined",
            "instance_count",
        ]


class OrderSerializer(serializers.ModelSerializer):
    hospital = HospitalRefSerializer(read_only=True)
    study = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="the study once it has arrived, else null"
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "hospital",
            "accession_number",
            "requested_procedure",
            "priority",
            "clinical_history",
            "referring_physician",
            "callback_phone",
            "patient_id",
            "issuer_of_patient_id",
            "patient_name",
            "placer_order_number",
            "filler_order_number",
            "status",
            "cancel_reason",
            "source",
            "created_at",
            "updated_at",
            "study",
        ]


class TriageRunSerializer(serializers.Serializer):
    model = serializers.CharField(source="model_name")
    version = serializers.CharField(source="model_version")
    weights_sha256 = serializers.CharField()
    status = serializers.CharField(
        help_text="succeeded, not_applicable, low_confidence or failed; only a succeeded run "
        "flags, and a low-confidence run's probabilities are kept for the record only"
    )
    status_display = serializers.CharField(source="get_status_display")
    probabilities = serializers.DictField(child=serializers.FloatField())
    flags = serializers.DictField(child=serializers.BooleanField())
    thresholds = serializers.DictField(child=serializers.FloatField())
    draft_findings = serializers.ListField(child=serializers.CharField())
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class AISummarySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["not_run", "completed"],
        help_text="not_run: no model ran to completion on this version (never read as negative)",
    )
    flags = serializers.ListField(child=serializers.CharField())
    draft_findings = serializers.ListField(child=serializers.CharField())
    not_applied = serializers.ListField(
        child=serializers.CharField(),
        help_text="why a model made for this study did not speak (low confidence, or an input "
        "check), one line per model: shown as 'AI not applied: <reason>'",
    )
    runs = TriageRunSerializer(many=True)


def ai_summary(study) -> dict:
    """The AI's word on the study as it is now: "not_run" or no flag, never "negative"."""
    runs = [run for run in study.triage_runs.all() if run.study_version == study.version]
    succeeded = [run for run in runs if run.status == "succeeded"]
    return {
        "status": "completed" if succeeded else "not_run",
        "flags": sorted({code for run in succeeded for code in run.flagged}),
        "draft_findings": [sentence for run in succeeded for sentence in run.draft_findings],
        "not_applied": [
            f"{run.model_name}: {run.reason or run.get_status_display().lower()}"
            for run in runs
            if run.withheld
        ],
        "runs": TriageRunSerializer(runs, many=True).data,
    }


class StudySerializer(serializers.ModelSerializer):
    hospital = HospitalRefSerializer(read_only=True, allow_null=True)
    series = SeriesSerializer(many=True, read_only=True)
    order = OrderSerializer(read_only=True, allow_null=True)
    ai = serializers.SerializerMethodField()

    @extend_schema_field(AISummarySerializer)
    def get_ai(self, study) -> dict:
        return ai_summary(study)

    class Meta:
        model = Study
        fields = [
            "id",
            "study_instance_uid",
            "accession_number",
            "hospital",
            "patient_name",
            "patient_id",
            "patient_sex",
            "patient_birth_date",
            "study_date",
            "study_time",
            "study_description",
            "modalities",
            "body_part_examined",
            "referring_physician_name",
            "status",
            "quarantine_reason",
            "quarantine_detail",
            "calling_ae_title",
            "priority",
            "priority_reason",
            "version",
            "series_count",
            "instance_count",
            "received_at",
            "completed_at",
            "series",
            "order",
            "ai",
        ]


class StudyFilterSerializer(serializers.Serializer):
    study_instance_uid = serializers.CharField(required=False, max_length=64)
    accession_number = serializers.CharField(required=False, max_length=16)
    hospital = serializers.SlugField(required=False, help_text="hospital code")
    status = serializers.ChoiceField(choices=StudyStatus.choices, required=False)
    modality = serializers.CharField(required=False, max_length=16)
    patient_id = serializers.CharField(required=False, max_length=64)


@extend_schema(parameters=[StudyFilterSerializer], tags=["studies"])
class StudyListApi(AuditedReadMixin, generics.ListAPIView):
    """Studies the caller may see, newest first. A hospital user sees only its hospital's."""

    serializer_class = StudySerializer
    audit_name = "study"

    def get_queryset(self):
        filters = StudyFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.study_list(user=self.request.user, filters=filters.validated_data)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit_read(many=len(response.data["results"]))
        return response


@extend_schema(tags=["studies"])
class StudyDetailApi(AuditedReadMixin, generics.RetrieveAPIView):
    serializer_class = StudySerializer
    audit_name = "study"

    def get_object(self):
        study = selectors.study_get(user=self.request.user, study_id=self.kwargs["pk"])
        self.audit_read(target=study, hospital=study.hospital_id, patient_id=study.patient_id)
        return study


class AssignHospitalSerializer(serializers.Serializer):
    hospital = serializers.SlugField(help_text="code of the hospital the study came from")


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


@extend_schema(request=AssignHospitalSerializer, responses=StudySerializer, tags=["quarantine"])
class StudyAssignHospitalApi(APIView):
    """Release a quarantined study to the hospital it came from (managers)."""

    permission_classes = [IsManager]

    def post(self, request, pk: int):
        payload = AssignHospitalSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        hospital = hospital_by_code(payload.validated_data["hospital"])
        if hospital is None:
            raise DomainError("hospital_unknown", _("No hospital has that code."), field="hospital")
        get_object_or_404(Study, pk=pk)
        study = services.study_assign_hospital(
            study_id=pk, hospital=hospital, actor=request.user, request=request
        )
        return Response(
            StudySerializer(selectors.study_get(user=request.user, study_id=study.pk)).data
        )


@extend_schema(request=RejectSerializer, responses=StudySerializer, tags=["quarantine"])
class StudyRejectApi(APIView):
    """Reject a quarantined study (managers). It is kept, marked rejected, never read."""

    permission_classes = [IsManager]

    def post(self, request, pk: int):
        payload = RejectSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        get_object_or_404(Study, pk=pk)
        study = services.study_reject(
            study_id=pk,
            actor=request.user,
            reason=payload.validated_data["reason"],
            request=request,
        )
        return Response(
            StudySerializer(selectors.study_get(user=request.user, study_id=study.pk)).data
        )


class PriorityField(serializers.CharField):
    def to_internal_value(self, data):
        try:
            return Priority.parse(str(data))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from exc


class SetPrioritySerializer(serializers.Serializer):
    priority = PriorityField(help_text="STAT, urgent or routine")
    reason = serializers.CharField(max_length=300)


@extend_schema(request=SetPrioritySerializer, responses=StudySerializer, tags=["studies"])
class StudySetPriorityApi(APIView):
    """A radiologist or manager sets the priority (up or down) with a reason; it then stands
    against automatic signals."""

    def post(self, request, pk: int):
        user = request.user
        if not (user.is_radiologist or user.is_manager):
            raise DomainError(
                "forbidden", _("Only radiologists and managers set priorities."), status=403
            )
        study = selectors.study_get(user=user, study_id=pk)
        payload = SetPrioritySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.study_set_priority(
            study_id=study.pk, actor=user, request=request, **payload.validated_data
        )
        return Response(StudySerializer(selectors.study_get(user=user, study_id=pk)).data)


class OrderCreateSerializer(serializers.Serializer):
    accession_number = serializers.CharField(max_length=16)
    requested_procedure = serializers.CharField(max_length=200)
    priority = PriorityField(help_text="STAT, urgent or routine")
    clinical_history = serializers.CharField(required=False, allow_blank=True, default="")
    referring_physician = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )
    callback_phone = serializers.RegexField(
        r"^[0-9+()\-. x]{3,40}$", required=False, allow_blank=True, default=""
    )
    patient_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    hospital = serializers.SlugField(
        required=False, help_text="hospital code; only managers set it"
    )


class OrderFilterSerializer(serializers.Serializer):
    accession_number = serializers.CharField(required=False, max_length=16)
    hospital = serializers.SlugField(required=False)


@extend_schema(tags=["orders"])
class OrderListCreateApi(AuditedReadMixin, generics.ListCreateAPIView):
    """Hospital systems post their clinical orders here; each matches its study by accession."""

    serializer_class = OrderSerializer
    audit_name = "order"

    def get_queryset(self):
        filters = OrderFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.order_list(user=self.request.user, filters=filters.validated_data)

    @extend_schema(parameters=[OrderFilterSerializer])
    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit_read(many=len(response.data["results"]))
        return response

    @extend_schema(request=OrderCreateSerializer, responses={201: OrderSerializer})
    def create(self, request, *args, **kwargs):
        payload = OrderCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        hospital_code = data.pop("hospital", None)
        user = request.user
        if user.is_hospital_user:
            if hospital_code and hospital_code != user.hospital.code:
                raise DomainError(
                    "hospital_forbidden",
                    _("You post orders for your own hospital only."),
                    field="hospital",
                )
            hospital = user.hospital
        elif user.is_manager:
            hospital = hospital_by_code(hospital_code)
            if hospital is None:
                raise DomainError(
                    "hospital_required", _("Name the hospital by its code."), field="hospital"
                )
        else:
            raise DomainError(
                "forbidden", _("Only hospital systems and managers post orders."), status=403
            )
        order = services.order_create(hospital=hospital, actor=user, request=request, **data)
        order = selectors.order_get(user=user, order_id=order.pk)
        return Response(OrderSerializer(order).data, status=status.HTTP_201_CREATED)


class OrderChangeSerializer(serializers.Serializer):
    requested_procedure = serializers.CharField(required=False, max_length=200)
    priority = PriorityField(required=False, help_text="STAT, urgent or routine")
    clinical_history = serializers.CharField(required=False, allow_blank=True)
    referring_physician = serializers.CharField(required=False, allow_blank=True, max_length=200)
    callback_phone = serializers.RegexField(
        r"^[0-9+()\-. x]{3,40}$", required=False, allow_blank=True
    )


class OrderCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="why the hospital cancels it")


def _order_for_writing(request, pk: int):
    """The caller's order (404 for another hospital's); only its hospital and managers write."""
    order = selectors.order_get(user=request.user, order_id=pk)
    if not (request.user.is_manager or request.user.is_hospital_user):
        raise DomainError(
            "forbidden", _("Only hospital systems and managers change orders."), status=403
        )
    return order


@extend_schema(tags=["orders"])
class OrderDetailApi(AuditedReadMixin, generics.RetrieveAPIView):
    """An order; PATCH changes it as HL7's ORC-1 XO does (a matched case takes a higher
    priority at once)."""

    serializer_class = OrderSerializer
    audit_name = "order"

    def get_object(self):
        order = selectors.order_get(user=self.request.user, order_id=self.kwargs["pk"])
        self.audit_read(target=order, hospital=order.hospital_id, patient_id=order.patient_id)
        return order

    @extend_schema(request=OrderChangeSerializer, responses={200: OrderSerializer})
    def patch(self, request, pk: int):
        order = _order_for_writing(request, pk)
        payload = OrderChangeSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.order_change(order_id=order.pk, actor=request.user,
                              changes=dict(payload.validated_data), request=request)  # fmt: skip
        order = selectors.order_get(user=request.user, order_id=order.pk)
        return Response(OrderSerializer(order).data)


@extend_schema(tags=["orders"])
class OrderCancelApi(APIView):
    """The hospital cancels its order (as HL7's ORC-1 CA): its case leaves the worklist with the
    reason, and a reader who had claimed it is told."""

    @extend_schema(request=OrderCancelSerializer, responses={200: OrderSerializer})
    def post(self, request, pk: int):
        order = _order_for_writing(request, pk)
        payload = OrderCancelSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.order_cancel(order_id=order.pk, actor=request.user,
                              reason=payload.validated_data["reason"], request=request)  # fmt: skip
        order = selectors.order_get(user=request.user, order_id=order.pk)
        return Response(OrderSerializer(order).data)
