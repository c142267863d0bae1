"""Reports over REST: open the draft, autosave, sign, addenda; templates and macros.

The PDF and the deliveries of a signed version are delivery's (readingcenter/delivery/api.py);
the deliveries still show in every report here, added on the hook points below.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter import hooks
from readingcenter.api import AuditedReadMixin
from readingcenter.errors import DomainError
from readingcenter.reports import critical_rules, selectors, services
from readingcenter.reports.models import CriticalCategory, Report, ReportKind, ReportTemplate


class CriticalFindingSerializer(serializers.Serializer):
    finding = serializers.CharField(max_length=500)
    category = serializers.ChoiceField(choices=CriticalCategory.choices)


class ReportSerializer(serializers.ModelSerializer):
    signed_by = serializers.CharField(source="signed_by.get_username", default=None)
    status = serializers.CharField(source="delivery_status", read_only=True)
    parent_version = serializers.IntegerField(source="parent.version_number", default=None)
    critical_findings = CriticalFindingSerializer(many=True)

    class Meta:
        model = Report
        fields = [
            "id",
            "study",
            "case",
            "state",
            "kind",
            "status",
            "version_number",
            "parent",
            "parent_version",
            "revision",
            "language",
            "technique",
            "comparison",
            "findings",
            "impression",
            "addendum_text",
            "critical_findings",
            "ai_draft",
            "ai_review",
            "ai_acceptance",
            "signed_by",
            "signed_at",
            "signature_name",
            "signature_meaning",
            "content_sha256",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_fields(self):
        fields = super().get_fields()
        # Hook "reports.report_fields": gather() -> {name: read-only serializer field} that the
        # apps above add after ours (delivery: "deliveries"), in the schema too. What they read
        # comes with the selectors' lists through "reports.report_prefetch".
        for extra in hooks.gather("reports.report_fields"):
            fields.update(extra)
        return fields


class ReportFilterSerializer(serializers.Serializer):
    study = serializers.IntegerField(required=False)
    case = serializers.IntegerField(required=False)
    state = serializers.ChoiceField(choices=["draft", "signed"], required=False)
    kind = serializers.ChoiceField(choices=ReportKind.choices, required=False)
    accession_number = serializers.CharField(required=False)


@extend_schema(parameters=[ReportFilterSerializer], tags=["reports"])
class ReportListApi(AuditedReadMixin, generics.ListAPIView):
    """Reports you may see: a hospital system sees its own hospital's signed versions."""

    serializer_class = ReportSerializer
    audit_name = "report"

    def get_queryset(self):
        filters = ReportFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.report_list(user=self.request.user, filters=filters.validated_data)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit_read(many=len(response.data.get("results", [])))
        return response


class ReportSaveSerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=1, help_text="the revision you started from")
    technique = serializers.CharField(required=False, allow_blank=True)
    comparison = serializers.CharField(required=False, allow_blank=True)
    findings = serializers.CharField(required=False, allow_blank=True)
    impression = serializers.CharField(required=False, allow_blank=True)
    critical_findings = CriticalFindingSerializer(many=True, required=False)
    ai_review = serializers.DictField(
        child=serializers.ChoiceField(choices=services.AI_REVIEW_STATES), required=False
    )
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES,
        required=False,
        help_text="the language the report is written in (its macros and the PDF's headings)",
    )


@extend_schema(tags=["reports"])
class ReportDetailApi(AuditedReadMixin, generics.RetrieveAPIView):
    """A report; ``PATCH`` autosaves a draft from the revision you name (409 if stale)."""

    serializer_class = ReportSerializer
    audit_name = "report"

    def get_object(self):
        report = selectors.report_get(user=self.request.user, report_id=self.kwargs["pk"])
        self.audit_read(
            target=report, hospital=report.hospital_id, patient_id=report.study.patient_id
        )
        return report

    @extend_schema(
        request=ReportSaveSerializer,
        responses={
            200: ReportSerializer,
            403: OpenApiResponse(description="not your claim (code not_your_case)"),
            409: OpenApiResponse(description="stale_revision, or report_signed"),
        },
    )
    def patch(self, request, pk: int):
        selectors.report_get(user=request.user, report_id=pk)
        payload = ReportSaveSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        changes = dict(payload.validated_data)
        revision = changes.pop("revision")
        if "critical_findings" in changes:
            changes["critical_findings"] = [dict(c) for c in changes["critical_findings"]]
        report = services.report_save(
            report_id=pk, user=request.user, revision=revision, changes=changes, request=request
        )
        return Response(ReportSerializer(report).data)

    @extend_schema(exclude=True)
    def put(self, request, pk: int):
        return self.patch(request, pk)


class CriticalAnswerSerializer(serializers.Serializer):
    key = serializers.ChoiceField(
        choices=critical_rules.KEYS, help_text="the finding asked about (reports.critical_rules)"
    )
    decision = serializers.ChoiceField(choices=services.CRITICAL_DECISIONS)
    category = serializers.ChoiceField(
        choices=CriticalCategory.choices,
        required=False,
        help_text="with decision=critical (default: the finding's usual category)",
    )
    reason = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="with decision=not_critical"
    )


class SignSerializer(serializers.Serializer):
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    kind = serializers.ChoiceField(choices=[ReportKind.PRELIMINARY, ReportKind.FINAL])
    revision = serializers.IntegerField(required=False, min_value=1)
    critical_answers = CriticalAnswerSerializer(
        many=True,
        required=False,
        help_text="the answer to each critical finding the AI flagged or the impression names "
        "(409 critical_unanswered lists them)",
    )


@extend_schema(
    request=SignSerializer,
    responses={
        200: ReportSerializer,
        403: OpenApiResponse(description="password did not match (reauthentication_failed)"),
        400: OpenApiResponse(description="section_required (the field names it), invalid"),
        409: OpenApiResponse(
            description="report_signed, stale_revision, ai_draft_unreviewed, critical_unanswered"
        ),
    },
    tags=["reports"],
)
class ReportSignApi(APIView):
    """Sign the draft (your password again: the e-signature). Signed reports never change."""

    audit_name = "report"

    def post(self, request, pk: int):
        selectors.report_get(user=request.user, report_id=pk)
        payload = SignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        data["critical_answers"] = [dict(a) for a in data.get("critical_answers", [])]
        report = services.report_sign(report_id=pk, user=request.user, request=request, **data)
        return Response(ReportSerializer(report).data)


class AddendumSerializer(serializers.Serializer):
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    text = serializers.CharField()
    critical_findings = CriticalFindingSerializer(many=True, required=False)


@extend_schema(request=AddendumSerializer, responses={201: ReportSerializer}, tags=["reports"])
class ReportAddendumApi(APIView):
    """Amend a signed final report: a new signed version; the original stays as it was."""

    audit_name = "report"

    def post(self, request, pk: int):
        selectors.report_get(user=request.user, report_id=pk)
        payload = AddendumSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        addendum = services.report_addendum(
            report_id=pk,
            user=request.user,
            password=data["password"],
            text=data["text"],
            critical_findings=[dict(c) for c in data.get("critical_findings", [])],
            request=request,
        )
        return Response(ReportSerializer(addendum).data, status=status.HTTP_201_CREATED)


@extend_schema(request=None, responses={201: ReportSerializer}, tags=["reports"])
class CaseReportOpenApi(APIView):
    """Open (or create) the draft of a case you have claimed, prefilled from its template
    and the AI's positive findings."""

    audit_name = "report"

    def post(self, request, pk: int):
        from readingcenter.worklist.selectors import case_get

        case_get(user=request.user, case_id=pk)
        report = services.report_open_draft(case_id=pk, user=request.user, request=request)
        return Response(ReportSerializer(report).data, status=status.HTTP_201_CREATED)


class TemplateSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReportTemplate
        fields = [
            "id",
            "name",
            "modality",
            "body_part",
            "language",
            "technique",
            "comparison",
            "findings",
            "impression",
            "required_sections",
            "critical_terms",
        ]


@extend_schema(tags=["reports"])
class TemplateListApi(generics.ListAPIView):
    serializer_class = TemplateSerializer

    def get_queryset(self):
        return selectors.template_list()


class MacroSerializer(serializers.Serializer):
    code = serializers.RegexField(r"^\.[\w-]{1,30}$", help_text="starts with a dot, e.g. .nml")
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES, default="en", help_text="the reports it expands in"
    )
    text = serializers.CharField()
    shared = serializers.BooleanField(default=False, write_only=True)


@extend_schema(tags=["reports"])
class MacroListApi(APIView):
    """Your macros (with the shared ones) for reports in ``?language=`` (default en); a code
    with no text in that language gives its English text. POST adds or changes one of yours."""

    @extend_schema(
        parameters=[OpenApiParameter("language", str, enum=[c for c, _n in settings.LANGUAGES])],
        responses=MacroSerializer(many=True),
    )
    def get(self, request):
        language = request.query_params.get("language", "en")
        if language not in dict(settings.LANGUAGES):
            raise DomainError(
                "invalid_language",
                _("Use one of: %(languages)s.")
                % {"languages": ", ".join(dict(settings.LANGUAGES))},
                field="language",
            )
        macros = selectors.macros_for(user=request.user, language=language)
        return Response(
            [{"code": code, "language": language, "text": text} for code, text in macros.items()]
        )

    @extend_schema(request=MacroSerializer, responses={201: MacroSerializer})
    def post(self, request):
        payload = MacroSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        macro = services.macro_save(user=request.user, **payload.validated_data)
        return Response(
            {"code": macro.code, "language": macro.language, "text": macro.text},
            status=status.HTTP_201_CREATED,
        )
