"""The worklist over REST: read it, claim, release, next case, reassign, heartbeat."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from readingcenter.accounts.models import Role, User
from readingcenter.api import AuditedReadMixin, IsManager
from readingcenter.priors.selectors import prior_lookup_for
from readingcenter.studies.api import HospitalRefSerializer, PriorityField, StudySerializer
from readingcenter.worklist import selectors, services
from readingcenter.worklist.models import AssignmentDecision, Case, CaseState, sla_status_of


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name")


class CaseStudySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    study_instance_uid = serializers.CharField()
    accession_number = serializers.CharField()
    patient_name = serializers.CharField()
    patient_id = serializers.CharField()
    patient_sex = serializers.CharField()
    patient_birth_date = serializers.DateField(allow_null=True)
    study_date = serializers.DateField(allow_null=True)
    study_description = serializers.CharField()
    priority_reason = serializers.CharField()
    instance_count = serializers.IntegerField()


class CaseSerializer(serializers.ModelSerializer):
    study = CaseStudySerializer(read_only=True)
    hospital = HospitalRefSerializer(read_only=True)
    claimed_by = UserRefSerializer(read_only=True, allow_null=True)
    sla_status = serializers.SerializerMethodField(
        help_text="ok, at_risk (amber), breached (red), or closed"
    )
    seconds_left = serializers.SerializerMethodField(help_text="negative once breached")
    viewer_url = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(["ok", "at_risk", "breached", "closed"]))
    def get_sla_status(self, case) -> str:
        return case.sla_status(self.context.get("now"))

    def get_seconds_left(self, case) -> int:
        return case.seconds_left(self.context.get("now"))

    def get_viewer_url(self, case) -> str:
        return reverse("case-viewer", args=[case.pk])

    class Meta:
        model = Case
        fields = [
            "id",
            "state",
            "priority",
            "study",
            "hospital",
            "modality",
            "modalities",
            "body_part",
            "subspecialty",
            "ai_score",
            "ai_flagged",
            "ai_note",
            "arrived_at",
            "due_at",
            "at_risk_at",
            "sla_status",
            "seconds_left",
            "claimed_by",
            "claimed_at",
            "last_activity_at",
            "signed_at",
            "viewer_url",
        ]

    def to_representation(self, case) -> dict:
        """The same fields as the declared ones, built directly: the worklist serialises 50
        cases per page on every refresh, and DRF's generic field walk cost more than the
        query. tests/worklist check that both paths agree."""
        now = self.context.get("now")
        dt = _datetime_field.to_representation
        study, reader = case.study, case.claimed_by
        return {
            "id": case.pk,
            "state": case.state,
            "priority": case.priority,
            "study": {
                "id": study.pk,
                "study_instance_uid": study.study_instance_uid,
                "accession_number": study.accession_number,
                "patient_name": study.patient_name,
                "patient_id": study.patient_id,
                "patient_sex": study.patient_sex,
                "patient_birth_date": _iso(study.patient_birth_date),
                "study_date": _iso(study.study_date),
                "study_description": study.study_description,
                "priority_reason": study.priority_reason,
                "instance_count": study.instance_count,
            },
            "hospital": {"code": case.hospital.code, "name": case.hospital.name},
            "modality": case.modality,
            "modalities": list(case.modalities),
            "body_part": case.body_part,
            "subspecialty": case.subspecialty,
            "ai_score": case.ai_score,
            "ai_flagged": case.ai_flagged,
            "ai_note": case.ai_note,
            "arrived_at": dt(case.arrived_at),
            "due_at": dt(case.due_at),
            "at_risk_at": dt(case.at_risk_at),
            "sla_status": case.sla_status(now),
            "seconds_left": case.seconds_left(now),
            "claimed_by": (
                {"id": reader.pk, "username": reader.username, "name": reader.get_full_name()}
                if reader is not None
                else None
            ),
            "claimed_at": dt(case.claimed_at) if case.claimed_at else None,
            "last_activity_at": dt(case.last_activity_at) if case.last_activity_at else None,
            "signed_at": dt(case.signed_at) if case.signed_at else None,
            "viewer_url": f"{_viewer_prefix()}{case.pk}/viewer/",
        }

    def generic_representation(self, case) -> dict:
        return super().to_representation(case)


_datetime_field = serializers.DateTimeField()


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _viewer_prefix() -> str:
    return reverse("case-viewer", args=[0])[: -len("0/viewer/")]


def _case_rows(rows, *, now) -> list[dict]:
    """CaseSerializer's output for ``selectors.worklist_rows`` (plain rows, no model
    instances): the time zone and the viewer's URL pattern looked up once per page, not per
    row. tests/worklist check that it agrees with the declared fields."""
    tz = timezone.get_current_timezone()
    viewer = _viewer_prefix()

    def stamp(value) -> str | None:
        if value is None:
            return None
        text = value.astimezone(tz).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    out = []
    for r in rows:
        reader = r["claimed_by_id"]
        due = r["due_at"]
        out.append(
            {
                "id": r["id"],
                "state": r["state"],
                "priority": r["priority"],
                "study": {
                    "id": r["study_id"],
                    "study_instance_uid": r["study__study_instance_uid"],
                    "accession_number": r["study__accession_number"],
                    "patient_name": r["study__patient_name"],
                    "patient_id": r["study__patient_id"],
                    "patient_sex": r["study__patient_sex"],
                    "patient_birth_date": _iso(r["study__patient_birth_date"]),
                    "study_date": _iso(r["study__study_date"]),
                    "study_description": r["study__study_description"],
                    "priority_reason": r["study__priority_reason"],
                    "instance_count": r["study__instance_count"],
                },
                "hospital": {"code": r["hospital__code"], "name": r["hospital__name"]},
                "modality": r["modality"],
                "modalities": list(r["modalities"]),
                "body_part": r["body_part"],
                "subspecialty": r["subspecialty"],
                "ai_score": r["ai_score"],
                "ai_flagged": r["ai_flagged"],
                "ai_note": r["ai_note"],
                "arrived_at": stamp(r["arrived_at"]),
                "due_at": stamp(due),
                "at_risk_at": stamp(r["at_risk_at"]),
                "sla_status": sla_status_of(r["state"], due, r["at_risk_at"], now),
                "seconds_left": int((due - now).total_seconds()),
                "claimed_by": (
                    {
                        "id": reader,
                        "username": r["claimed_by__username"],
                        "name": _full_name(r["claimed_by__first_name"], r["claimed_by__last_name"]),
                    }
                    if reader is not None
                    else None
                ),
                "claimed_at": stamp(r["claimed_at"]),
                "last_activity_at": stamp(r["last_activity_at"]),
                "signed_at": stamp(r["signed_at"]),
                "viewer_url": f"{viewer}{r['id']}/viewer/",
            }
        )
    return out


def _full_name(first: str, last: str) -> str:
    return f"{first} {last}".strip()  # User.get_full_name


class WorklistPagination(CursorPagination):
    """Keyset pages in reading order, the DRF cursor way: ``next`` and ``previous`` are links
    with an opaque ``cursor``; a page costs one index seek however deep it is, and no count.

    The cursor holds the whole position (priority rank, deadline, AI score, arrival, id), not
    DRF's first ordering column plus an offset: rows sharing a priority would otherwise be
    skipped by offset, which grows with the page. ``?page=N`` still answers the page-number
    form (``count``, ``next``, ``previous``, ``results``) for clients written against it."""

    page_size = 50
    ordering = selectors.POSITION_FIELDS
    page_query_param = "page"
    display_page_controls = False  # no page links in the browsable API's HTML

    def paginate_queryset(self, queryset, request, view=None):
        self.numbers = None
        if request.query_params.get(self.page_query_param) is not None:
            self.numbers = PageNumberPagination()
            self.numbers.page_size = self.page_size
            return self.numbers.paginate_queryset(queryset, request, view)
        self.base_url = request.build_absolute_uri()
        cursor = self.decode_cursor(request)
        reverse = bool(cursor and cursor.reverse)
        if cursor is not None and cursor.position is not None:
            queryset = selectors.after_position(
                queryset, self._position(cursor.position), reverse=reverse
            )
        elif reverse:
            raise NotFound(self.invalid_cursor_message)
        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if reverse:
            rows.reverse()
        self.has_next = True if reverse else more
        self.has_previous = more if reverse else bool(cursor and cursor.position is not None)
        self.page = rows
        return rows

    def _position(self, text: str) -> tuple:
        try:
            rank, due, score, arrived, pk = text.split("~")
            return (int(rank), dt.datetime.fromisoformat(due), float(score),
                    dt.datetime.fromisoformat(arrived), int(pk))  # fmt: skip
        except (TypeError, ValueError):
            raise NotFound(self.invalid_cursor_message) from None

    @staticmethod
    def _encode_position(row: dict) -> str:
        return "~".join(
            (str(row["priority_rank"]), row["due_at"].isoformat(), repr(row["ai_score"]),
             row["arrived_at"].isoformat(), str(row["id"]))
        )  # fmt: skip

    def get_next_link(self):
        if not (self.has_next and self.page):
            return None
        position = self._encode_position(self.page[-1])
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=position))

    def get_previous_link(self):
        if not (self.has_previous and self.page):
            return None
        position = self._encode_position(self.page[0])
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=position))

    def get_paginated_response(self, data):
        if self.numbers is not None:
            return self.numbers.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema):
        answer = super().get_paginated_response_schema(schema)
        answer["properties"] = {
            "count": {
                "type": "integer",
                "description": "the number of cases: only with ?page= (the page-number form)",
            },
            **answer["properties"],
        }
        return answer

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.page_query_param,
                "required": False,
                "in": "query",
                "description": "a page number: the page-number form, with count (older "
                "clients); without it, pages follow the cursor links",
                "schema": {"type": "integer"},
            },
        ]


class PriorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    study_instance_uid = serializers.CharField()
    accession_number = serializers.CharField()
    study_date = serializers.DateField(allow_null=True)
    study_description = serializers.CharField()
    modalities = serializers.ListField(child=serializers.CharField())
    is_prior = serializers.BooleanField(
        help_text="fetched from the hospital's PACS for comparison (not a case of ours)"
    )


class PriorsStatusSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=["pending", "done", "failed"],
        help_text="failed: priors unavailable for now (see reason); retried with backoff",
    )
    reason = serializers.CharField(allow_blank=True)
    found = serializers.IntegerField(help_text="the patient's studies the hospital's PACS has")
    relevant = serializers.IntegerField(help_text="those the hospital's rules call relevant")
    next_try_at = serializers.DateTimeField(allow_null=True)


class CaseDetailSerializer(CaseSerializer):
    study_detail = serializers.SerializerMethodField()
    priors = serializers.SerializerMethodField()
    priors_status = serializers.SerializerMethodField()

    @extend_schema_field(PriorsStatusSerializer(allow_null=True))
    def get_priors_status(self, case) -> dict | None:
        lookup = prior_lookup_for(case.study)
        if lookup is None:
            return None
        return PriorsStatusSerializer(
            {"state": lookup.state, "reason": lookup.error, "found": lookup.found,
             "relevant": lookup.chosen, "next_try_at": lookup.next_try_at}
        ).data  # fmt: skip

    @extend_schema_field(StudySerializer)
    def get_study_detail(self, case) -> dict:
        return StudySerializer(case.study).data

    @extend_schema_field(PriorSerializer(many=True))
    def get_priors(self, case) -> list:
        return PriorSerializer(selectors.priors_for(case), many=True).data

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "study_detail", "priors", "priors_status"]

    def to_representation(self, case) -> dict:
        return {
            **super().to_representation(case),
            "study_detail": self.get_study_detail(case),
            "priors": self.get_priors(case),
            "priors_status": self.get_priors_status(case),
        }


class WorklistFilterSerializer(serializers.Serializer):
    modality = serializers.CharField(required=False, max_length=16, help_text="e.g. CT")
    body_part = serializers.CharField(required=False, max_length=64, help_text="e.g. HEAD")
    subspecialty = serializers.CharField(required=False, max_length=16)
    hospital = serializers.SlugField(required=False, help_text="hospital code")
    priority = PriorityField(required=False, help_text="STAT, urgent or routine")
    state = serializers.ChoiceField(
        choices=[*CaseState.values, "all"],
        required=False,
        help_text="default: the open worklist (unread, claimed, in_report)",
    )
    ai = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="AI flagged (true) or not (false)"
    )
    mine = serializers.BooleanField(required=False, default=False, help_text="only my claims")


@extend_schema(parameters=[WorklistFilterSerializer], tags=["worklist"])
class WorklistApi(AuditedReadMixin, generics.ListAPIView):
    """The cases the caller may read, in reading order: priority (AI escalation included),
    SLA deadline, AI score, arrival. Radiologists see only hospitals where they hold a valid
    privilege today."""

    serializer_class = CaseSerializer
    pagination_class = WorklistPagination
    audit_name = "case"

    def get_queryset(self):
        filters = WorklistFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = {k: v for k, v in filters.validated_data.items() if v is not None}
        return selectors.worklist_rows(user=self.request.user, filters=data)

    def list(self, request, *args, **kwargs):
        rows = self.paginate_queryset(self.get_queryset())
        response = self.get_paginated_response(_case_rows(rows, now=timezone.now()))
        self.audit_read(many=len(rows))
        return response


@extend_schema(tags=["worklist"])
class CaseDetailApi(AuditedReadMixin, generics.RetrieveAPIView):
    """One case with its study, order, AI findings and the patient's priors at that hospital."""

    serializer_class = CaseDetailSerializer
    audit_name = "case"

    def get_object(self):
        case = selectors.case_get(user=self.request.user, case_id=self.kwargs["pk"])
        self.audit_read(target=case, hospital=case.hospital_id, patient_id=case.study.patient_id)
        return case


def _case_response(request, case_id: int, code=status.HTTP_200_OK) -> Response:
    case = selectors.case_get(user=request.user, case_id=case_id)
    return Response(CaseSerializer(case, context={"request": request}).data, status=code)


CLAIM_RESPONSES = {
    200: CaseSerializer,
    404: OpenApiResponse(description="no such case, or not at a hospital you may read for"),
    409: OpenApiResponse(description="already claimed by someone else (code already_claimed)"),
}


@extend_schema(request=None, responses=CLAIM_RESPONSES, tags=["worklist"])
class CaseClaimApi(APIView):
    """Claim a case. Of any number of simultaneous claims exactly one wins; the others get
    409 with code ``already_claimed`` and who holds it."""

    audit_name = "case"

    def post(self, request, pk: int):
        case = services.case_claim(case_id=pk, user=request.user, request=request)
        return Response(CaseSerializer(case, context={"request": request}).data)


class NextSerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, allow_null=True, default=None,
        help_text="the case you are leaving: not handed back to you",
    )  # fmt: skip


@extend_schema(
    request=NextSerializer,
    responses={200: CaseSerializer, 204: OpenApiResponse(description="nothing to read")},
    tags=["worklist"],
)
class CaseNextApi(APIView):
    """Your next case: your own open claims first (nearest deadline first), else the first
    unread case in worklist order of your hospitals, modalities and subspecialties, claimed."""

    audit_name = "case"

    def post(self, request):
        payload = NextSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        case = services.case_next(
            user=request.user, after=payload.validated_data["after"], request=request
        )
        if case is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        # The service returns the claimed case with what a row shows: no second read.
        return Response(CaseSerializer(case, context={"request": request}).data)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RequiredReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


@extend_schema(request=ReasonSerializer, responses=CaseSerializer, tags=["worklist"])
class CaseReleaseApi(APIView):
    """Give your claim back to the pool (managers may release anyone's)."""

    audit_name = "case"

    def post(self, request, pk: int):
        payload = ReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.case_release(case_id=pk, user=request.user, request=request,
                              reason=payload.validated_data["reason"])  # fmt: skip
        return _case_response(request, pk)


class ReassignSerializer(serializers.Serializer):
    to = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(role=Role.RADIOLOGIST, is_active=True),
        allow_null=True,
        help_text="the radiologist's user id, or null to return the case to the pool",
    )
    reason = serializers.CharField(max_length=500)


@extend_schema(request=ReassignSerializer, responses=CaseSerializer, tags=["worklist"])
class CaseReassignApi(APIView):
    """Move a case to another credentialed radiologist, or back to the pool (managers)."""

    audit_name = "case"

    permission_classes = [IsManager]

    def post(self, request, pk: int):
        payload = ReassignSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.case_reassign(case_id=pk, to_user=payload.validated_data["to"],
                               reason=payload.validated_data["reason"], actor=request.user,
                               request=request)  # fmt: skip
        return _case_response(request, pk)


@extend_schema(request=RequiredReasonSerializer, responses=CaseSerializer, tags=["worklist"])
class CaseRemoveApi(APIView):
    """Take a case off the worklist without a report (managers; audited, with a reason)."""

    audit_name = "case"

    permission_classes = [IsManager]

    def post(self, request, pk: int):
        payload = RequiredReasonSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.case_remove(case_id=pk, actor=request.user, request=request,
                             reason=payload.validated_data["reason"])  # fmt: skip
        return _case_response(request, pk)


@extend_schema(request=None, responses={204: None}, tags=["worklist"])
class CaseHeartbeatApi(APIView):
    """The reader is still on the case: keeps an idle claim from returning to the pool."""

    audit_name = "case"

    def post(self, request, pk: int):
        selectors.case_get(user=request.user, case_id=pk)
        services.case_touch(case_id=pk, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DecisionSerializer(serializers.ModelSerializer):
    chosen = UserRefSerializer(read_only=True, allow_null=True)
    previous = UserRefSerializer(read_only=True, allow_null=True)
    case = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = AssignmentDecision
        fields = ["id", "case", "kind", "rule", "candidates", "chosen", "previous", "actor",
                  "reason", "at"]  # fmt: skip


class DecisionFilterSerializer(serializers.Serializer):
    case = serializers.IntegerField(required=False)


@extend_schema(parameters=[DecisionFilterSerializer], tags=["worklist"])
class AssignmentDecisionListApi(generics.ListAPIView):
    """Why each case went where it went: rule, candidates considered, who was chosen."""

    serializer_class = DecisionSerializer
    permission_classes = [IsManager]

    def get_queryset(self):
        filters = DecisionFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.decision_list(
            user=self.request.user, case_id=filters.validated_data.get("case")
        )


class PrivilegeSerializer(serializers.Serializer):
    hospital = serializers.CharField(source="hospital.code")
    licence_number = serializers.CharField()
    valid_from = serializers.DateField()
    valid_until = serializers.DateField(allow_null=True)
    valid_today = serializers.BooleanField()


class RadiologistSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name")
    subspecialties = serializers.ListField(child=serializers.CharField())
    modalities = serializers.ListField(child=serializers.CharField())
    on_duty = serializers.BooleanField()
    open_cases = serializers.IntegerField()
    privileges = PrivilegeSerializer(many=True)


@extend_schema(tags=["worklist"], responses=RadiologistSerializer(many=True))
class RadiologistListApi(APIView):
    """Radiologists with their privileges, subspecialties, duty status and current load."""

    permission_classes = [IsManager]

    def get(self, request):
        return Response(RadiologistSerializer(selectors.radiologist_rows(), many=True).data)
