"""Follow-up recommendations: found at signing, closed by the study that does them, and
raised when overdue. The only writer of the followups app."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from readingcenter.accounts.selectors import language_of
from readingcenter.audit.services import audit_record
from readingcenter.followups import rules
from readingcenter.followups.models import FollowUp
from readingcenter.notifications.services import email_send

SYSTEM_FOLLOWUPS = "system:followups"


def followups_from_report(*, report) -> list[FollowUp]:
    """In the signing transaction: the signed text's recommendations become tracked items."""
    study = report.study
    text = "\n".join(t for t in (report.impression, report.findings, report.addendum_text) if t)
    signed = (report.signed_at or timezone.now()).date()
    made = []
    for found in rules.find(text):
        item, created = FollowUp.objects.get_or_create(
            report=report, sentence=found.sentence[:2000],
            defaults={"study": study, "hospital_id": report.hospital_id,
                      "patient_id": study.patient_id,
                      "issuer_of_patient_id": study.issuer_of_patient_id,
                      "modality": found.modality, "interval_days": found.interval_days,
                      "due_date": signed + dt.timedelta(days=found.interval_days),
                      "language": found.language},
        )  # fmt: skip
        if created:
            made.append(item)
            audit_record(actor=SYSTEM_FOLLOWUPS, action="followup.open", target=item,
                         hospital=item.hospital_id, patient_id=item.patient_id,
                         detail={"modality": item.modality, "due_date": str(item.due_date),
                                 "report": report.pk})  # fmt: skip
    return made


def followups_close_by_study(*, study) -> list[FollowUp]:
    """A completed study of the patient closes his open follow-ups of its modality (or of any
    modality, for those that named none) recommended before it arrived."""
    if not study.patient_id or study.hospital_id is None:
        return []
    modalities = list(study.modalities or [])
    closed = []
    candidates = FollowUp.objects.select_for_update().filter(
        hospital_id=study.hospital_id, patient_id=study.patient_id,
        issuer_of_patient_id=study.issuer_of_patient_id,
        state__in=[FollowUp.State.OPEN, FollowUp.State.OVERDUE],
        created_at__lt=study.received_at or timezone.now(),
    ).exclude(study=study)  # fmt: skip
    for item in candidates:
        if item.modality and item.modality not in modalities:
            continue
        item.state, item.closed_by, item.closed_at = FollowUp.State.DONE, study, timezone.now()
        item.save(update_fields=["state", "closed_by", "closed_at"])
        audit_record(actor=SYSTEM_FOLLOWUPS, action="followup.done", target=item,
                     hospital=item.hospital_id, patient_id=item.patient_id,
                     detail={"study": study.pk})  # fmt: skip
        closed.append(item)
    return closed


def followups_raise_overdue(*, today: dt.date | None = None) -> list[FollowUp]:
    """Open follow-ups past their due date become overdue; the hospital's users and the
    managers get one e-mail per item (the send's outcome is on the audit trail)."""
    today = today or timezone.now().date()
    raised = []
    with transaction.atomic():
        due = FollowUp.objects.select_for_update(skip_locked=True).filter(
            state=FollowUp.State.OPEN, due_date__lt=today
        )
        for item in due.select_related("hospital"):
            item.state, item.alerted_at = FollowUp.State.OVERDUE, timezone.now()
            item.save(update_fields=["state", "alerted_at"])
            raised.append(item)
    for item in raised:
        _alert(item)
    return raised


def _email_text(item: FollowUp) -> tuple[str, str]:
    """Subject and body in the active language (the recipient's)."""
    subject = _("Overdue follow-up at %(hospital)s: %(modality)s") % {
        "hospital": item.hospital.name,
        "modality": item.modality or _("a study"),
    }
    body = "\n".join(
        (
            _('A report of %(date)s recommended: "%(sentence)s"')
            % {"date": f"{item.created_at:%Y-%m-%d}", "sentence": item.sentence},
            _("It was due on %(date)s and no matching study has arrived.")
            % {"date": f"{item.due_date:%Y-%m-%d}"},
            _("Patient ID %(patient)s; study %(accession)s.")
            % {
                "patient": item.patient_id or _("(none)"),
                "accession": item.study.accession_number or "-",
            },
        )
    )
    return subject, body


def _alert(item: FollowUp) -> None:
    users = (
        get_user_model().objects.filter(is_active=True).exclude(email="").select_related("hospital")
    )
    to = [u for u in users if u.is_manager or u.hospital_id == item.hospital_id]
    results = {}
    for user in to:
        if user.email in results:
            continue  # one e-mail per address
        with translation.override(language_of(user)):
            subject, body = _email_text(item)
        results[user.email] = email_send(to=user.email, subject=subject, body=body)
    audit_record(actor=SYSTEM_FOLLOWUPS, action="followup.overdue", target=item,
                 hospital=item.hospital_id, patient_id=item.patient_id,
                 detail={"due_date": str(item.due_date), "notified": sorted(
                     a for a, r in results.items() if r.sent),
                     "failed": {a: r.error for a, r in results.items() if not r.sent}})  # fmt: skip
