"""The audit trail over REST for managers: the same filters as the search page."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics, pagination, serializers

from readingcenter.api import IsManager
from readingcenter.audit import selectors
from readingcenter.audit.models import AuditEvent, Outcome
from readingcenter.audit.services import audit_record


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = AuditEvent
        fields = list(selectors.EXPORT_FIELDS)
        read_only_fields = fields


class AuditFilterSerializer(serializers.Serializer):
    user = serializers.CharField(required=False, max_length=150)
    patient_id = serializers.CharField(required=False, max_length=64)
    study = serializers.IntegerField(
        required=False, min_value=1, help_text="the study, its case and its reports"
    )
    target_type = serializers.CharField(required=False, max_length=64)
    target_id = serializers.CharField(required=False, max_length=64)
    action = serializers.CharField(
        required=False, max_length=64, help_text="exact, or a prefix ending in *: report.*"
    )
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False)
    hospital = serializers.IntegerField(required=False, help_text="hospital id")
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class AuditCursorPagination(pagination.CursorPagination):
    # A cursor, not page numbers: the trail has millions of rows, and page numbers would
    # count every match and walk past every earlier page on each request.
    ordering = "-at"
    page_size = 50


@extend_schema(parameters=[AuditFilterSerializer], tags=["audit"])
class AuditEventListApi(generics.ListAPIView):
    """The trail, newest first (managers and administrators)."""

    permission_classes = [IsManager]
    serializer_class = AuditEventSerializer
    pagination_class = AuditCursorPagination

    def get_queryset(self):
        filters = AuditFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        self.filters = filters.validated_data
        return selectors.audit_events(user=self.request.user, filters=self.filters)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        audit_record(
            actor=request.user,
            action="audit.search",
            target_type="audit.auditevent",
            request=request,
            detail={"via": "api", "query": request.query_params.dict()},
        )
        return response
