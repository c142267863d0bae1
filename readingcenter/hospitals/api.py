from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from readingcenter.api import IsManager
from readingcenter.errors import DomainError
from readingcenter.hospitals import selectors, services
from readingcenter.hospitals.models import Hospital, normalise_ae_title, validate_ae_title


class HospitalSerializer(serializers.ModelSerializer):
    ae_titles = serializers.SlugRelatedField(many=True, read_only=True, slug_field="ae_title")

    class Meta:
        model = Hospital
        fields = [
            "id",
            "name",
            "code",
            "ae_titles",
            "time_zone",
            "report_language",
            "is_active",
            "auto_assign_stat",
            "created_at",
        ]


class AETitleField(serializers.CharField):
    def to_internal_value(self, data):
        value = normalise_ae_title(super().to_internal_value(data))
        try:
            validate_ae_title(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value


class HospitalCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    code = serializers.SlugField(max_length=32)
    ae_titles = serializers.ListField(child=AETitleField(max_length=16), allow_empty=False)
    time_zone = serializers.CharField(required=False, default="UTC")
    report_language = serializers.ChoiceField(
        choices=settings.LANGUAGES,
        default="en",
        help_text="its reports' language (templates, macros, the PDF's headings) and e-mails'",
    )

    def validate_time_zone(self, value):
        if value not in zoneinfo.available_timezones():
            raise serializers.ValidationError(
                _("%(value)s is not an IANA time zone (e.g. Asia/Seoul).") % {"value": repr(value)}
            )
        return value


@extend_schema(tags=["hospitals"])
class HospitalListCreateApi(generics.ListCreateAPIView):
    """Hospitals the caller may see; managers onboard new ones (they can send at once)."""

    serializer_class = HospitalSerializer

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsManager()]
        return super().get_permissions()

    def get_queryset(self):
        return selectors.hospital_list(user=self.request.user)

    @extend_schema(request=HospitalCreateSerializer, responses={201: HospitalSerializer})
    def create(self, request, *args, **kwargs):
        payload = HospitalCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        hospital = services.hospital_create(
            actor=request.user, request=request, **payload.validated_data
        )
        hospital = selectors.hospital_list(user=request.user).get(pk=hospital.pk)
        return Response(HospitalSerializer(hospital).data, status=status.HTTP_201_CREATED)


class HospitalSettingsSerializer(serializers.Serializer):
    auto_assign_stat = serializers.BooleanField(
        help_text="assign STAT cases to the least-loaded eligible reader on duty"
    )


@extend_schema(tags=["hospitals"])
class HospitalDetailApi(generics.RetrieveAPIView):
    """One hospital; managers switch its STAT auto-assignment on or off with PATCH."""

    serializer_class = HospitalSerializer

    def get_queryset(self):
        return selectors.hospital_list(user=self.request.user)

    @extend_schema(request=HospitalSettingsSerializer, responses=HospitalSerializer)
    def patch(self, request, pk: int):
        if not request.user.is_manager:
            raise DomainError("forbidden", _("Only managers change hospital settings."), status=403)
        hospital = self.get_object()
        payload = HospitalSettingsSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        hospital = services.hospital_set_auto_assign(
            hospital=hospital,
            enabled=payload.validated_data["auto_assign_stat"],
            actor=request.user,
            request=request,
        )
        return Response(HospitalSerializer(hospital).data)
