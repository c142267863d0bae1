"""Reports: templates, macros, the draft a radiologist writes, and the signed versions.

A ``Report`` row is one document. While it is a draft, its author's autosaves change it,
each guarded by a revision number. Signing freezes it for good: the database itself refuses
UPDATE and DELETE of a signed row (migration 0002), and its content hash is stored. A
preliminary report is followed by a new draft that becomes the final; corrections to a final
report are addenda, new signed rows that point at it.
"""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

SECTIONS = ("technique", "comparison", "findings", "impression")


class ReportTemplate(models.Model):
    """A structured starting point per modality and body part (managers edit them)."""

    name = models.CharField(max_length=100)
    modality = models.CharField(max_length=16, help_text=_("CT, CR, DX, MR, ..."))
    body_part = models.CharField(
        max_length=64, blank=True, help_text=_("HEAD, CHEST, BRAIN, ABDOMEN; blank: any")
    )
    technique = models.TextField(blank=True)
    comparison = models.TextField(blank=True, default="None available.")
    findings = models.TextField(blank=True)
    impression = models.TextField(blank=True)
    # Written in this language: a report in Korean starts from a Korean template.
    language = models.CharField(max_length=8, default="en", choices=settings.LANGUAGES)
    # What signing insists on: whole sections (technique, comparison, findings, impression)
    # and headings of the findings ("Lungs"); every other heading left empty is dropped.
    required_sections = ArrayField(
        models.CharField(max_length=64), default=list, blank=True,
        help_text=_("sections or findings headings that must be filled in before signing, "
                    "e.g. impression, Lungs, Pleura"),
    )  # fmt: skip
    # Findings of the critical rule set (reports.critical_rules) that, flagged by the AI on a
    # study of this template, make signing ask: critical, or why not?
    critical_terms = ArrayField(
        models.CharField(max_length=32), default=list, blank=True,
        help_text=_("keys of reports.critical_rules.TERMS, e.g. pneumothorax"),
    )  # fmt: skip
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["modality", "body_part", "language", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["modality", "body_part", "language", "name"],
                name="report_template_unique_per_language",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Macro(models.Model):
    """A short code a radiologist types that expands to text (``.nml`` -> a normal sentence).

    A macro without an owner is the reading center's, available to everybody; a radiologist's
    own macro with the same code wins.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="macros",
    )
    code = models.CharField(max_length=32, help_text=_("typed as written, e.g. .nml"))
    # The same code expands in the report's language: .nml is a normal sentence in each.
    language = models.CharField(max_length=8, default="en", choices=settings.LANGUAGES)
    text = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "code", "language"], name="macro_code_unique_per_owner_language"
            ),
            models.UniqueConstraint(
                fields=["code", "language"],
                condition=models.Q(owner=None),
                name="macro_code_unique_shared_language",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class ReportState(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("report state", "Draft")
    SIGNED = "signed", pgettext_lazy("report state", "Signed")


class ReportKind(models.TextChoices):
    PRELIMINARY = "preliminary", _("Preliminary report")
    FINAL = "final", _("Final report")
    ADDENDUM = "addendum", _("Addendum")


class CriticalCategory(models.TextChoices):
    """The ACR's actionable findings: how soon the referrer must know."""

    MINUTES = "minutes", _("Category 1: within minutes")
    HOURS = "hours", _("Category 2: within hours")
    DAYS = "days", _("Category 3: within days")


class Report(models.Model):
    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="reports")
    case = models.ForeignKey("worklist.Case", on_delete=models.PROTECT, related_name="reports")
    # Copied from the study: tenancy filters on it without a join.
    hospital = models.ForeignKey("hospitals.Hospital", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=8, choices=ReportState.choices, default=ReportState.DRAFT)
    # For a draft: what it is meant to become (an addendum draft, or the main report, whose
    # signer chooses preliminary or final); for a signed row: what it is.
    kind = models.CharField(max_length=12, choices=ReportKind.choices, default=ReportKind.FINAL)
    # An addendum's final report; a final's preliminary; a draft after a preliminary: it.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    template = models.ForeignKey(
        ReportTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    technique = models.TextField(blank=True)
    comparison = models.TextField(blank=True)
    findings = models.TextField(blank=True)
    impression = models.TextField(blank=True)
    addendum_text = models.TextField(blank=True)
    # The language it is written in: the hospital's report language when the draft opens; the
    # reader may change it before signing. It picks the template and macros and the headings
    # of what the hospital receives. Not in the signed content's hash: it is how the content
    # is labelled, and rows signed before it existed must keep verifying.
    language = models.CharField(max_length=8, default="en", choices=settings.LANGUAGES)
    # [{"finding": str, "category": "minutes"|"hours"|"days"}], turned into CriticalResult
    # rows (and notifications) when the report is signed.
    critical_findings = models.JSONField(default=list, blank=True)
    # The signer's answer to each critical finding the AI flagged or the impression named:
    # [{"key", "label", "sources": [{"kind": "ai"|"impression", "text"}], "decision":
    # "marked"|"critical"|"not_critical", "category", "reason"}]. Set once, at signing; not part
    # of the signed content the hospital receives (it is our record of the check).
    critical_review = models.JSONField(default=list, blank=True)

    # What the AI drafted when the draft was opened: [{"finding", "label", "sentence",
    # "probability", "model_name", "model_version", "run_id"}]. Kept as it was.
    ai_draft = models.JSONField(default=list, blank=True)
    # The radiologist's word on each AI sentence: {finding: "pending"|"accepted"|"edited"|
    # "rejected"}; a sentence stays marked AI-drafted while "pending".
    ai_review = models.JSONField(default=dict, blank=True)
    # At signing: how much of each AI sentence survived into the signed text (issue 6's
    # acceptance analytics read this): [{"finding", "outcome", "similarity"}].
    ai_acceptance = models.JSONField(default=list, blank=True)

    # Autosave's guard: a save names the revision it started from; another tab's is refused.
    revision = models.PositiveIntegerField(default=1)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    # -- the electronic signature (set once, with the row frozen) --------------------------
    version_number = models.PositiveIntegerField(null=True, blank=True)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    signature_name = models.CharField(max_length=200, blank=True)
    signature_meaning = models.CharField(max_length=40, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["study_id", "version_number", "id"]
        indexes = [models.Index(fields=["hospital", "-signed_at"])]
        constraints = [
            # The hospital receives versions 1, 2, 3... of a study's reports in this order.
            models.UniqueConstraint(
                fields=["study", "version_number"], name="report_version_unique_per_study"
            ),
            # One main draft per case at a time (an addendum draft is separate).
            models.UniqueConstraint(
                fields=["case"],
                condition=models.Q(state="draft") & ~models.Q(kind="addendum"),
                name="report_one_main_draft_per_case",
            ),
            models.CheckConstraint(
                name="report_signed_has_signature",
                condition=models.Q(state="draft")
                | models.Q(
                    signed_at__isnull=False,
                    signed_by__isnull=False,
                    version_number__isnull=False,
                )
                & ~models.Q(content_sha256=""),
            ),
        ]

    def __str__(self) -> str:
        label = self.get_kind_display()
        return f"{label} v{self.version_number}" if self.version_number else f"{label} (draft)"

    # -- the model's own questions ------------------------------------------------------------
    @property
    def is_signed(self) -> bool:
        return self.state == ReportState.SIGNED

    @property
    def delivery_status(self) -> str:
        """What the hospital is told this version is: preliminary, final or amended."""
        if self.kind == ReportKind.ADDENDUM:
            return "amended"
        return str(self.kind)

    def signed_content(self) -> dict:
        """Everything the signature covers, in a fixed shape (hashed, and delivered)."""
        return {
            "study_instance_uid": self.study.study_instance_uid,
            "accession_number": self.study.accession_number,
            "kind": self.kind,
            "version_number": self.version_number,
            "parent_version": self.parent.version_number if self.parent_id else None,
            **{name: getattr(self, name) for name in SECTIONS},
            "addendum_text": self.addendum_text,
            "critical_findings": self.critical_findings,
            "signed_by": self.signed_by.get_username() if self.signed_by_id else None,
            "signature_name": self.signature_name,
            "signature_meaning": self.signature_meaning,
            "signed_at": self.signed_at.isoformat() if self.signed_at else None,
        }

    def compute_sha256(self) -> str:
        canonical = json.dumps(self.signed_content(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def hash_matches(self) -> bool:
        """Whether the stored text is still what was signed (checked before every delivery)."""
        return bool(self.content_sha256) and self.compute_sha256() == self.content_sha256
