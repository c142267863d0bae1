from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class InboundMessage(models.Model):
    """One HL7 v2 message a hospital sent us, kept as it came, with the ACK we answered.

    The raw bytes are the record: what the hospital said, whatever we made of it. A message
    whose (sending facility, control id) we have already answered is answered again with the
    same ACK and changes nothing, so an engine that resends after a lost ACK is harmless.
    """

    class Ack(models.TextChoices):
        ACCEPTED = "AA", _("Accepted")
        ERROR = "AE", _("Error (content)")
        REJECTED = "AR", _("Rejected")

    hospital = models.ForeignKey(
        "hospitals.Hospital", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    sending_application = models.CharField(max_length=64, blank=True)
    sending_facility = models.CharField(max_length=64, blank=True)
    control_id = models.CharField(max_length=64, blank=True)
    message_type = models.CharField(max_length=32, blank=True)
    charset = models.CharField(max_length=32, blank=True)
    raw = models.BinaryField()
    peer = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    ack_code = models.CharField(max_length=2, choices=Ack.choices)
    ack_message = models.TextField()
    error_code = models.CharField(max_length=64, blank=True)
    error_text = models.TextField(blank=True)
    # What the message did: {"order": id, "action": "created" | "changed" | "cancelled", ...}
    outcome = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["hospital", "-received_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["sending_facility", "control_id"],
                condition=~models.Q(control_id=""),
                name="hl7_inbound_once_per_control_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_type} {self.control_id} from {self.sending_facility}"
