from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Outcome(models.TextChoices):
    SUCCESS = "success", _("Success")
    DENIED = "denied", _("Denied")
    NOT_FOUND = "not_found", _("Not found")
    INVALID = "invalid", _("Invalid input")
    ERROR = "error", _("Error")


class AuditEvent(models.Model):
    """One line of the append-only audit trail.

    The database refuses UPDATE and DELETE on this table (trigger in migration 0002), so not
    even a bug in the application can rewrite history. References are kept as plain values
    without foreign-key constraints for the same reason: deleting a user or a study must not
    cascade into, or be blocked by, the trail.
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    # The username as it was at the time; a system process (the follower) has none.
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    hospital_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    patient_id = models.CharField(max_length=64, blank=True, db_index=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"]),
            # The audit search by user ("what did this person look at"), newest first.
            models.Index(fields=["actor_label", "-at"], name="audit_actor_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.outcome}"
