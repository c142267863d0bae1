from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Priority(models.TextChoices):
    STAT = "stat", _("STAT")
    URGENT = "urgent", _("Urgent")
    ROUTINE = "routine", _("Routine")

    @classmethod
    def rank(cls, value: str) -> int:
        """Lower is more urgent; the worklist sorts on it."""
        return {cls.STAT: 0, cls.URGENT: 1, cls.ROUTINE: 2}[cls(value)]

    @classmethod
    def parse(cls, value: str) -> Priority:
        """Accept what hospitals send: STAT, Urgent, routine; HL7's S/A/R, DICOM's HIGH/MED/LOW."""
        aliases = {
            "stat": cls.STAT,
            "s": cls.STAT,
            "high": cls.STAT,
            "emergency": cls.STAT,
            "urgent": cls.URGENT,
            "a": cls.URGENT,
            "asap": cls.URGENT,
            "med": cls.URGENT,
            "routine": cls.ROUTINE,
            "r": cls.ROUTINE,
            "low": cls.ROUTINE,
        }
        try:
            return aliases[(value or "").strip().lower()]
        except KeyError:
            raise ValueError(
                _("%(value)s is not a priority: use STAT, urgent or routine")
                % {"value": repr(value)}
            ) from None


class StudyStatus(models.TextChoices):
    RECEIVING = "receiving", _("Receiving")
    COMPLETE = "complete", pgettext_lazy("study status", "Complete")
    QUARANTINED = "quarantined", _("Quarantined")
    REJECTED = "rejected", _("Rejected")


class QuarantineReason(models.TextChoices):
    UNKNOWN_SENDER = "unknown_sender", _("Unknown sending AE title")
    MISSING_DATA = "missing_data", _("Required DICOM data missing")
    CONFLICTING_UID = "conflicting_uid", _("StudyInstanceUID already used for another patient")


class OrderStatus(models.TextChoices):
    ACTIVE = "active", pgettext_lazy("order status", "Active")
    # The hospital cancelled it (HL7 ORC-1 CA, or the API): its study leaves the worklist.
    CANCELLED = "cancelled", _("Cancelled by the hospital")


class OrderSource(models.TextChoices):
    API = "api", "REST API"
    HL7 = "hl7", "HL7 v2 message"


class Order(models.Model):
    """The clinical order a hospital system posts; matched to its study by accession number."""

    hospital = models.ForeignKey(
        "hospitals.Hospital", on_delete=models.PROTECT, related_name="orders"
    )
    accession_number = models.CharField(max_length=16)
    requested_procedure = models.CharField(max_length=200)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.ROUTINE)
    clinical_history = models.TextField(blank=True)
    referring_physician = models.CharField(max_length=200, blank=True)
    callback_phone = models.CharField(max_length=40, blank=True)
    patient_id = models.CharField(max_length=64, blank=True)
    # Who assigned the patient id (HL7 PID-3.4, DICOM IssuerOfPatientID): two issuers' "12345"
    # are two patients.
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_name = models.CharField(max_length=324, blank=True)
    # The ordering system's own numbers (HL7 ORC-2 / ORC-3), by which it changes or cancels.
    placer_order_number = models.CharField(max_length=64, blank=True)
    filler_order_number = models.CharField(max_length=64, blank=True)
    status = models.CharField(
        max_length=12, choices=OrderStatus.choices, default=OrderStatus.ACTIVE
    )
    cancel_reason = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=8, choices=OrderSource.choices, default=OrderSource.API)
    updated_at = models.DateTimeField(auto_now=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Matching is by accession number within the hospital: it must be unique there.
            models.UniqueConstraint(
                fields=["hospital", "accession_number"], name="order_accession_unique_per_hospital"
            )
        ]

    def __str__(self) -> str:
        return f"{self.accession_number} {self.requested_procedure}"


class Study(models.Model):
    # Not unique: Orthanc keys a study by PatientID + StudyInstanceUID, so two patients can
    # arrive with one UID (a PACS bug or a mix-up). The second is quarantined, never merged.
    study_instance_uid = models.CharField(max_length=64, db_index=True)
    # Orthanc ids are hashes of the DICOM UIDs: stable across an Orthanc database reset.
    orthanc_id = models.CharField(max_length=64, unique=True)
    hospital = models.ForeignKey(
        "hospitals.Hospital",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="studies",
    )
    status = models.CharField(
        max_length=16, choices=StudyStatus.choices, default=StudyStatus.RECEIVING
    )
    quarantine_reason = models.CharField(
        max_length=32, choices=QuarantineReason.choices, blank=True
    )
    quarantine_detail = models.TextField(blank=True)
    calling_ae_title = models.CharField(max_length=16, blank=True)
    # Fetched from the hospital's PACS for comparison with a newer study: shown beside it,
    # never a case, never triaged, never delivered back.
    is_prior = models.BooleanField(default=False)

    patient_name = models.CharField(max_length=324, blank=True)
    patient_id = models.CharField(max_length=64, blank=True)
    # IssuerOfPatientID: with the hospital and the id, who the patient is.
    issuer_of_patient_id = models.CharField(max_length=64, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)
    patient_birth_date = models.DateField(null=True, blank=True)
    accession_number = models.CharField(max_length=16, blank=True)
    study_date = models.DateField(null=True, blank=True)
    study_time = models.TimeField(null=True, blank=True)
    study_description = models.CharField(max_length=200, blank=True)
    modalities = ArrayField(models.CharField(max_length=16), default=list, blank=True)
    body_part_examined = models.CharField(max_length=64, blank=True)
    referring_physician_name = models.CharField(max_length=324, blank=True)
    institution_name = models.CharField(max_length=200, blank=True)
    requested_procedure_priority = models.CharField(max_length=16, blank=True)

    requested_procedure_description = models.CharField(max_length=200, blank=True)
    # CurrentPatientLocation, or InstitutionalDepartmentName: "ED" raises the priority.
    patient_location = models.CharField(max_length=200, blank=True)

    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.ROUTINE)
    priority_reason = models.CharField(max_length=300, blank=True)
    # Set when a radiologist or manager chose the priority: automatic signals then leave it.
    priority_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order = models.OneToOneField(
        Order, null=True, blank=True, on_delete=models.SET_NULL, related_name="study"
    )

    series_count = models.PositiveIntegerField(default=0)
    instance_count = models.PositiveIntegerField(default=0)
    # Bumped each time the study completes with new content (a late series): one triage per version.
    version = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    last_instance_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The Orthanc change (StableStudy's Seq) that made the current version, when one did: the
    # same change met again (a second follower, a follower restarted, one that completed it
    # ahead of its cursor) then has nothing to do and does nothing.
    completed_change_seq = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = _("studies")
        indexes = [
            # The hospital's own list, newest first, and order matching by accession number.
            models.Index(fields=["hospital", "-received_at"]),
            models.Index(fields=["hospital", "accession_number"]),
            models.Index(fields=["status", "-received_at"]),
            # The sweep looks for studies still receiving.
            models.Index(
                fields=["status", "last_instance_at"],
                name="study_receiving_idx",
                condition=models.Q(status="receiving"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.accession_number or self.study_instance_uid} ({self.get_status_display()})"

    # -- state rules -------------------------------------------------------------------
    ALLOWED = {
        StudyStatus.RECEIVING: {StudyStatus.COMPLETE, StudyStatus.QUARANTINED},
        StudyStatus.COMPLETE: {StudyStatus.RECEIVING, StudyStatus.QUARANTINED},
        StudyStatus.QUARANTINED: {
            StudyStatus.RECEIVING,
            StudyStatus.COMPLETE,
            StudyStatus.REJECTED,
        },
        StudyStatus.REJECTED: set(),
    }

    def can_become(self, status: str) -> bool:
        return status in self.ALLOWED[StudyStatus(self.status)]

    @property
    def is_quarantined(self) -> bool:
        return self.status == StudyStatus.QUARANTINED

    @property
    def is_readable(self) -> bool:
        """Whether the study belongs on a worklist: known sender, all data, complete."""
        return self.status == StudyStatus.COMPLETE and self.hospital_id is not None

    @property
    def study_datetime(self) -> dt.datetime | None:
        """StudyDate and StudyTime as the moment they name: the hospital's wall clock, in its
        zone (DICOM writes local time without a zone). None without both or a hospital."""
        import zoneinfo

        if self.study_date is None or self.study_time is None or self.hospital is None:
            return None
        try:
            zone = zoneinfo.ZoneInfo(self.hospital.time_zone or "UTC")
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo("UTC")
        return dt.datetime.combine(self.study_date, self.study_time, tzinfo=zone)

    @property
    def patient_age(self) -> str:
        """The patient's age on the study date (today without one): "57 y", "8 mo", "12 d";
        "" without a birth date. Years from two years on, as radiology reports write it."""
        born = self.patient_birth_date
        if born is None:
            return ""
        on = self.study_date or dt.date.today()
        if on < born:
            return ""
        months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
        if months >= 24:
            return f"{months // 12} y"
        if months >= 1:
            return f"{months} mo"
        return f"{(on - born).days} d"


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_instance_uid = models.CharField(max_length=64, unique=True)
    orthanc_id = models.CharField(max_length=64, unique=True)
    series_number = models.IntegerField(null=True, blank=True)
    modality = models.CharField(max_length=16, blank=True)
    series_description = models.CharField(max_length=200, blank=True)
    body_part_examined = models.CharField(max_length=64, blank=True)
    instance_count = models.PositiveIntegerField(default=0)
    # Objects the reading center itself stores into the study (reports as SR/PDF) arrive
    # through the REST API; they are kept apart so they never re-open or re-triage a study.
    is_own = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series_number", "id"]
        verbose_name_plural = _("series")

    def __str__(self) -> str:
        return f"{self.series_number} {self.modality} {self.series_description}"


class StudyEvent(models.Model):
    """The study's timeline: arrival, series, completion, quarantine, order match."""

    class Kind(models.TextChoices):
        RECEIVED = "received", _("First instance received")
        SERIES_ADDED = "series_added", _("Series added")
        COMPLETED = "completed", pgettext_lazy("study status", "Complete")
        REOPENED = "reopened", _("Re-opened by late data")
        QUARANTINED = "quarantined", _("Quarantined")
        ASSIGNED = "assigned", _("Assigned to a hospital")
        REJECTED = "rejected", _("Rejected")
        ORDER_MATCHED = "order_matched", _("Order matched")
        ORDER_CHANGED = "order_changed", _("Order changed by the hospital")
        ORDER_CANCELLED = "order_cancelled", _("Order cancelled by the hospital")
        PATIENT_MERGED = "patient_merged", _("Patient merged into another id")
        PATIENT_UNMERGED = "patient_unmerged", _("Patient merge undone")
        PRIORITY_CHANGED = "priority_changed", _("Priority changed")
        RESYNCED = "resynced", _("Resynchronised from Orthanc")
        TRIAGED = "triaged", "AI triage ran"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    at = models.DateTimeField(auto_now_add=True)
    # The Orthanc change that caused it, when one did (None for sweeps and manual actions).
    change_seq = models.BigIntegerField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.study_id} {self.kind}"


class PatientMerge(models.Model):
    """Two patient records of one hospital found to be one person (HL7 ADT^A40): the studies
    and orders of the old id moved to the surviving one. Kept, so that a manager can undo it
    (a wrong merge mixes two people's images) and move back exactly what was moved."""

    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.PROTECT, related_name="+")
    old_patient_id = models.CharField(max_length=64)
    old_issuer = models.CharField(max_length=64, blank=True)
    new_patient_id = models.CharField(max_length=64)
    new_issuer = models.CharField(max_length=64, blank=True)
    study_ids = ArrayField(models.BigIntegerField(), default=list)
    order_ids = ArrayField(models.BigIntegerField(), default=list)
    source = models.CharField(max_length=200, blank=True)  # "hl7:<facility> <control id>"
    merged_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undo_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-merged_at"]

    def __str__(self) -> str:
        return f"{self.old_patient_id} -> {self.new_patient_id} ({self.hospital_id})"
