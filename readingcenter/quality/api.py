"""Peer review over REST: the queue, scoring, a reader's request; managers' discrepancy rates."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter.api import AuditedReadMixin
from readingcenter.errors import DomainError
from readingcenter.quality import selectors, services
from readingcenter.quality.models import PeerReview


class PeerReviewSerializer(serializers.ModelSerializer):
    hospital = serializers.CharField(source="hospital.code")
    first_reader = serializers.CharField(source="first_reader.username")
    reviewer = serializers.CharField(source="reviewer.username", allow_null=True, default=None)
    study = serializers.IntegerField(source="report.study_id")
    is_discrepancy = serializers.BooleanField()

    class Meta:
        model = PeerReview
        fields = [
            "id",
            "report",
            "study",
            "hospital",
            "modality",
            "first_reader",
            "reason",
            "reviewer",
            "score",
            "comment",
            "scored_at",
            "is_discrepancy",
            "created_at",
        ]


class PeerReviewFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["pending", "scored"], required=False)


@extend_schema(tags=["quality"], parameters=[PeerReviewFilterSerializer])
class PeerReviewListApi(AuditedReadMixin, generics.ListAPIView):
    """Reviews to take (radiologists: never of their own reports), given and received."""

    serializer_class = PeerReviewSerializer
    audit_name = "peer_review"

    def get_queryset(self):
        filters = PeerReviewFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.peer_reviews_visible(
            user=self.request.user, state=filters.validated_data.get("state", "")
        )

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit_read(many=len(response.data["results"]))
        return response


class ScoreSerializer(serializers.Serializer):
    score = serializers.ChoiceField(choices=PeerReview.Score.choices)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


@extend_schema(tags=["quality"])
class PeerReviewScoreApi(APIView):
    """Score a report RADPEER style (1, 2a, 2b, 3a, 3b; a comment unless 1). A 3 tells the
    first reader, who may add an addendum that the hospital receives as usual."""

    @extend_schema(request=ScoreSerializer, responses={200: PeerReviewSerializer})
    def post(self, request, pk: int):
        selectors.peer_review_scorable(user=request.user, review_id=pk)  # 404 before 400
        payload = ScoreSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        review = services.peer_review_score(review_id=pk, user=request.user, request=request,
                                            **payload.validated_data)  # fmt: skip
        return Response(PeerReviewSerializer(review).data)


class RequestSerializer(serializers.Serializer):
    report = serializers.IntegerField(help_text="one of your own signed reports")


@extend_schema(tags=["quality"])
class PeerReviewRequestApi(APIView):
    """A reader asks for a colleague's score on one of his own signed reports."""

    @extend_schema(request=RequestSerializer, responses={201: PeerReviewSerializer})
    def post(self, request):
        if not request.user.is_radiologist:
            raise DomainError("forbidden", _("Only the report's reader asks."), status=403)
        payload = RequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        review = services.peer_review_request(report_id=payload.validated_data["report"],
                                              user=request.user, request=request)  # fmt: skip
        return Response(PeerReviewSerializer(review).data, status=201)


class RateSerializer(serializers.Serializer):
    key = serializers.CharField()
    scored = serializers.IntegerField()
    discrepancies = serializers.IntegerField(help_text="scores 3a and 3b")
    rate = serializers.FloatField()
    ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True)


class RateFilterSerializer(serializers.Serializer):
    by = serializers.ChoiceField(choices=["reader", "modality", "hospital"], default="reader")


@extend_schema(tags=["quality"], parameters=[RateFilterSerializer],
               responses={200: RateSerializer(many=True)})  # fmt: skip
class DiscrepancyRatesApi(APIView):
    """Managers: peer-review discrepancy rates per reader, modality or hospital (Wilson 95%)."""

    def get(self, request):
        if not request.user.is_manager:
            raise DomainError("not_a_manager", _("Discrepancy rates are for managers."), status=403)
        filters = RateFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        rates = selectors.discrepancy_rates(by=filters.validated_data["by"])
        return Response(RateSerializer(rates, many=True).data)
