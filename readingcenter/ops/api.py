"""The dashboard's figures over REST (managers), the same dict the page renders."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter.api import IsManager
from readingcenter.audit.services import audit_read_record
from readingcenter.ops import selectors
from readingcenter.ops.links import ai_model_links, dashboard_links


@extend_schema(responses=OpenApiTypes.OBJECT, tags=["ops"])
class DashboardApi(APIView):
    """Queue depth and oldest case by priority and hospital, at-risk and breached cases,
    radiologists' status, AI flags waiting, failed deliveries, open critical results, and
    each AI model version's state, positive rates, drift and alarms (``ai_models``); each
    number with the page that lists what is behind it (``links``/``url``)."""

    permission_classes = [IsManager]

    def get(self, request):
        data = dashboard_links(selectors.dashboard())
        data["ai_models"] = ai_model_links(selectors.ai_models())
        audit_read_record(
            actor=request.user,
            action="ops.dashboard.read",
            target_type="ops.dashboard",
            request=request,
            detail={"via": "api"},
        )
        return Response(data)
