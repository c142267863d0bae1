"""Where each hospital takes its reports, and the outbox of what is owed to it.

A ``Delivery`` is one report version owed to one of the hospital's endpoints. It is created
in the signing transaction (so it exists exactly when the signature does) and is unique per
(report, endpoint): a retry sends the same row again, never a new one, and the hospital gets
the row's idempotency key to drop what it already has.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    DICOM = "dicom", _("DICOM (SR + Encapsulated PDF to the hospital's PACS)")
    HL7 = "hl7", _("HL7 v2 ORU^R01 over MLLP")
    FHIR = "fhir", _("FHIR R4 DiagnosticReport over HTTPS")


class DeliveryEndpoint(models.Model):
    hospital = models.ForeignKey(
        "hospitals.Hospital", on_delete=models.CASCADE, related_name="delivery_endpoints"
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    name = models.CharField(max_length=100, help_text=_("how the hospital's IT calls it"))
    is_active = models.BooleanField(default=True)

    # DICOM: the PACS's AE; HL7: the interface engine's MLLP listener.
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    ae_title = models.CharField(max_length=16, blank=True)
    # HL7 MSH-3/4 are ours; MSH-5/6 are the hospital's.
    receiving_application = models.CharField(max_length=180, blank=True)
    receiving_facility = models.CharField(max_length=180, blank=True)
    # FHIR: the server's base URL and a bearer token (never shown back by the API).
    base_url = models.URLField(max_length=500, blank=True)
    auth_token = models.CharField(max_length=500, blank=True)
    verify_tls = models.BooleanField(default=True)
    timeout_seconds = models.PositiveIntegerField(default=15)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hospital__name", "channel", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["hospital", "channel", "name"], name="delivery_endpoint_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.hospital} {self.get_channel_display()}: {self.name}"

    @property
    def target(self) -> str:
        """Where it goes, in the words the hospital's IT uses."""
        if self.channel == Channel.DICOM:
            return f"{self.ae_title}@{self.host}:{self.port}"
        if self.channel == Channel.HL7:
            return f"mllp://{self.host}:{self.port}"
        return self.base_url

    def missing_settings(self) -> list[str]:
        needed = {
            Channel.DICOM: ["ae_title", "host", "port"],
            Channel.HL7: ["host", "port"],
            Channel.FHIR: ["base_url"],
        }[Channel(self.channel)]
        return [name for name in needed if not getattr(self, name)]


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    # After the last retry, or refused outright: a manager looks and retries by hand.
    FAILED = "failed", _("Failed")


class Delivery(models.Model):
    report = models.ForeignKey(
        "reports.Report", on_delete=models.PROTECT, related_name="deliveries"
    )
    endpoint = models.ForeignKey(
        DeliveryEndpoint, on_delete=models.PROTECT, related_name="deliveries"
    )
    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    idempotency_key = models.CharField(max_length=100, unique=True)
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error_code = models.CharField(max_length=64, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    receipt = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The order a hospital receives in: signing order (ids are handed out in the signing
        # transactions, one after another).
        ordering = ["id"]
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["report", "endpoint"], name="delivery_once_per_report_and_endpoint"
            )
        ]
        indexes = [
            # The drain's query: an endpoint's pending deliveries in order.
            models.Index(
                fields=["endpoint", "id"],
                name="delivery_pending_idx",
                condition=models.Q(state="pending"),
            ),
            # Failed deliveries wait for a manager: the dashboard counts and lists them.
            models.Index(
                fields=["-updated_at"],
                name="delivery_failed_idx",
                condition=models.Q(state="failed"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({self.state})"


class DeliveryAttempt(models.Model):
    """One try: when, how long, and what the hospital's side answered."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="tries")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    succeeded = models.BooleanField()
    retryable = models.BooleanField(default=False)
    error_code = models.CharField(max_length=64, blank=True)
    message = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return (
            f"{self.delivery_id} try {self.number}: {'ok' if self.succeeded else self.error_code}"
        )


class RenderedPdf(models.Model):
    """A signed version's PDF, rendered once and sent by every channel, every retry, every
    worker process and the hospital portal.

    Keyed by the version and a digest of everything the PDF is drawn from (the document
    ``selectors.report_document`` builds, which holds the signed text's hash): bytes are only
    reused for exactly the document they were rendered from.
    """

    report = models.ForeignKey("reports.Report", on_delete=models.CASCADE, related_name="+")
    document_sha256 = models.CharField(max_length=64)
    pdf = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["report", "document_sha256"], name="rendered_pdf_once_per_document"
            )
        ]

    def __str__(self) -> str:
        return f"PDF of report {self.report_id} ({self.document_sha256[:12]})"
