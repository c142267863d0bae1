"""Model versions over REST (managers): state, live monitoring, alarms, pause and resume.

Views validate, call one service or selector, and serialise.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter.api import IsManager
from readingcenter.audit.services import audit_record
from readingcenter.errors import NotFound
from triage import monitoring, services
from triage.models import AlarmKind, AlarmWindow, ModelAlarm, ModelVersionChange, VersionState


class ExpectationsSerializer(serializers.Serializer):
    expected_positive_rate = serializers.FloatField()
    alert_factor = serializers.FloatField()
    min_studies = serializers.IntegerField()
    high = serializers.FloatField(help_text="an alarm above this rate")
    low = serializers.FloatField(help_text="a warning below this rate")
    defaults_used = serializers.BooleanField(
        help_text="the card sets some or none of these: the reading center's defaults fill in"
    )
    from_card = serializers.ListField(child=serializers.CharField())


class WindowFiguresSerializer(serializers.Serializer):
    window = serializers.ChoiceField(choices=AlarmWindow.choices)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    studies = serializers.IntegerField(help_text="succeeded runs: the rate's denominator")
    positives = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    low_confidence = serializers.IntegerField()
    not_applicable = serializers.IntegerField()
    failed = serializers.IntegerField()


class DriftSerializer(serializers.Serializer):
    finding = serializers.CharField()
    source = serializers.ChoiceField(choices=["card", "first runs"])
    reference_n = serializers.IntegerField()
    current_n = serializers.IntegerField()
    psi = serializers.FloatField(allow_null=True, help_text="population stability index")
    level = serializers.CharField()
    note = serializers.CharField()


class AlarmSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=AlarmKind.choices)

    class Meta:
        model = ModelAlarm
        fields = ["id", "window", "kind", "window_start", "fired_at", "studies", "positives",
                  "rate", "expected_rate", "alert_factor", "min_studies", "defaults_used",
                  "message"]  # fmt: skip


class ChangeSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = ModelVersionChange
        fields = ["state", "actor", "reason", "at", "queued"]


class ModelVersionSerializer(serializers.Serializer):
    model_name = serializers.CharField(source="version.model_name")
    model_version = serializers.CharField(source="version.model_version")
    weights_sha256 = serializers.CharField(source="version.weights_sha256")
    state = serializers.ChoiceField(choices=VersionState.choices, source="version.state")
    state_changed_at = serializers.DateTimeField(source="version.state_changed_at")
    first_seen_at = serializers.DateTimeField(source="version.first_seen_at")
    loaded = serializers.BooleanField(help_text="a worker reported it loaded lately")
    expected = ExpectationsSerializer()
    windows = WindowFiguresSerializer(many=True)
    drift = DriftSerializer(many=True)
    alarms = AlarmSerializer(many=True, help_text="fired in the last 24 hours")
    awaiting = serializers.IntegerField(
        help_text="studies that completed while it was paused, waiting for re-triage"
    )


class ModelVersionDetailSerializer(ModelVersionSerializer):
    history = ChangeSerializer(many=True)


class StateChangeReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="why: it goes on the history")


def _version_or_404(model_name: str, model_version: str):
    version = monitoring.model_version_get(model_name=model_name, model_version=model_version)
    if version is None:
        raise NotFound(
            _("No model version %(name)s %(version)s has been loaded.")
            % {"name": model_name, "version": model_version}
        )
    return version


@extend_schema(tags=["triage"], responses=ModelVersionSerializer(many=True))
class ModelVersionListApi(APIView):
    """Every model version a worker has loaded: its state, the positive rate of the last hour
    and day against its band, score drift, the alarms of the last day, awaiting studies."""

    permission_classes = [IsManager]

    def get(self, request):
        rows = monitoring.model_versions_monitoring()
        audit_record(actor=request.user, action="triage.model_version.list",
                     target_type="triage.modelversion", request=request,
                     detail={"results": len(rows)})  # fmt: skip
        return Response(ModelVersionSerializer(rows, many=True).data)


@extend_schema(tags=["triage"], responses=ModelVersionDetailSerializer)
class ModelVersionDetailApi(APIView):
    """One model version, with its pause history."""

    permission_classes = [IsManager]

    def get(self, request, model_name: str, model_version: str):
        version = _version_or_404(model_name, model_version)
        [row] = monitoring.model_versions_monitoring(versions=[version])
        row.history = list(monitoring.model_version_history(version))
        audit_record(actor=request.user, action="triage.model_version.read", target=version,
                     request=request)  # fmt: skip
        return Response(ModelVersionDetailSerializer(row).data)


class _StateChangeApi(APIView):
    permission_classes = [IsManager]
    change = None

    def post(self, request, model_name: str, model_version: str):
        payload = StateChangeReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version = self.change(
            model_name=model_name,
            model_version=model_version,
            actor=request.user,
            reason=payload.validated_data["reason"],
            request=request,
        )
        [row] = monitoring.model_versions_monitoring(versions=[version])
        row.history = list(monitoring.model_version_history(version))
        return Response(ModelVersionDetailSerializer(row).data)


_CHANGE_RESPONSES = {
    200: ModelVersionDetailSerializer,
    400: OpenApiResponse(description="no reason given (code reason_required)"),
    404: OpenApiResponse(description="no such model version"),
}


@extend_schema(
    tags=["triage"],
    request=StateChangeReasonSerializer,
    responses={**_CHANGE_RESPONSES, 409: OpenApiResponse(description="already paused")},
)
class ModelVersionPauseApi(_StateChangeApi):
    """Pause the version: it runs nothing until resumed, and the studies it would have read
    wait for it. Audited with who and why."""

    change = staticmethod(services.model_version_pause)


@extend_schema(
    tags=["triage"],
    request=StateChangeReasonSerializer,
    responses={**_CHANGE_RESPONSES, 409: OpenApiResponse(description="not paused")},
)
class ModelVersionResumeApi(_StateChangeApi):
    """Resume the version: it runs again, and every study that completed while it was paused
    (its current version, not yet read by this model) is queued for re-triage."""

    change = staticmethod(services.model_version_resume)
