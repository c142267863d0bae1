from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

# PS3.5 AE title: up to 16 characters of the default repertoire, no backslash or control
# characters; leading and trailing spaces are not significant.
AE_TITLE_PATTERN = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")


def normalise_ae_title(value: str) -> str:
    return (value or "").strip()


def validate_ae_title(value: str) -> None:
    if not AE_TITLE_PATTERN.match(value) or not value.strip():
        raise ValidationError(
            _("%(value)s is not a DICOM AE title: 1 to 16 printable ASCII characters, no backslash")
            % {"value": repr(value)}
        )


class Hospital(models.Model):
    """A referring hospital: the tenant. Everything a hospital user sees hangs off one."""

    name = models.CharField(max_length=200)
    code = models.SlugField(
        max_length=32, unique=True, help_text=_("Short code, e.g. 'seoul-north'")
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    is_active = models.BooleanField(default=True)
    # Managers switch it on per hospital: its STAT cases then go straight to a reader.
    auto_assign_stat = models.BooleanField(
        default=False, help_text=_("Assign STAT cases to the least-loaded eligible reader on duty")
    )
    # The language its reports are written and delivered in (templates, macros, the PDF's
    # headings) and its e-mails are sent in; a reader may still sign one report in another.
    report_language = models.CharField(max_length=8, default="en", choices=settings.LANGUAGES)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class HospitalAETitle(models.Model):
    """A DICOM AE title a hospital sends from; the sender of every study is recognised by it."""

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="ae_titles")
    # Unique across hospitals: one calling AE must never map to two tenants.
    ae_title = models.CharField(max_length=16, unique=True, validators=[validate_ae_title])

    class Meta:
        ordering = ["ae_title"]
        verbose_name = _("AE title")

    def __str__(self) -> str:
        return self.ae_title


class HospitalHL7Facility(models.Model):
    """An HL7 v2 sending facility (MSH-4) a hospital's systems send orders and ADT from.

    The listener knows the hospital by it, as the DICOM receiver knows it by the calling AE
    title; a message from a facility no hospital declares is refused with the reason.
    """

    hospital = models.ForeignKey(Hospital, on_delete=models.CASCADE, related_name="hl7_facilities")
    # MSH-4's first component (namespace id), exactly as the hospital's engine sends it;
    # unique across hospitals: one facility must never map to two tenants.
    sending_facility = models.CharField(max_length=64, unique=True)
    # Used when a message has no MSH-18 (HL7's default would be ASCII, which no Korean or
    # Chinese engine can keep to): the engine's configured character set.
    default_charset = models.CharField(
        max_length=32,
        default="UNICODE UTF-8",
        help_text=_(
            "MSH-18 to assume when a message names none: UNICODE UTF-8, 8859/1, "
            "KS X 1001 (EUC-KR), GB 18030-2000, BIG-5, ASCII"
        ),
    )
    # The issuer of patient ids (PID-3.4) to assume when a message names none.
    default_patient_id_issuer = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["sending_facility"]
        verbose_name = _("HL7 sending facility")

    def __str__(self) -> str:
        return self.sending_facility


class HospitalPACS(models.Model):
    """The hospital's own PACS, queried for a patient's earlier studies (C-FIND) and asked to
    send the relevant ones to us (C-MOVE, or C-GET where the hospital allows only that).

    The rules say which earlier studies are relevant to a new one; managers edit them.
    """

    class Retrieve(models.TextChoices):
        MOVE = "move", _("C-MOVE (the PACS sends to our AE title)")
        GET = "get", _("C-GET (we fetch on the query association)")

    class Match(models.TextChoices):
        MODALITY = "modality", _("Same modality")
        BODY_PART = "body_part", _("Same body part (in the study description)")
        EITHER = "either", _("Same modality or same body part")

    hospital = models.OneToOneField(Hospital, on_delete=models.CASCADE, related_name="pacs")
    enabled = models.BooleanField(default=True)
    # Unique across hospitals: the studies this PACS sends us (C-MOVE) are known by it.
    ae_title = models.CharField(max_length=16, unique=True, validators=[validate_ae_title])
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    retrieve = models.CharField(max_length=8, choices=Retrieve.choices, default=Retrieve.MOVE)
    match = models.CharField(max_length=12, choices=Match.choices, default=Match.EITHER)
    keywords = models.CharField(
        max_length=500,
        blank=True,
        help_text=_(
            "Comma-separated words: an earlier study whose description holds one is "
            "relevant whatever its modality (e.g. 'head, brain, 두부, 头颅')"
        ),
    )
    max_studies = models.PositiveSmallIntegerField(default=3)
    max_years = models.PositiveSmallIntegerField(default=5)

    class Meta:
        verbose_name = _("hospital PACS (priors)")
        verbose_name_plural = _("hospital PACS (priors)")

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"
