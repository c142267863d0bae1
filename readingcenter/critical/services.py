"""Every write about critical results: raise them at signing, tell the hospital, escalate,
record the acknowledgement.

The loop is closed by the database, not by timing: a result is open until one conditional
UPDATE (``WHERE state = 'open'``) records its acknowledgement, and an escalation step is one
conditional UPDATE (``WHERE level = <the level read>``), so neither happens twice whatever
the number of clicks or workers. Notifications are rows first (planned in a transaction,
exactly once per level), then sent by the notify job; a send that fails is recorded as
failed, with its reason, and never kills the job.
"""

from __future__ import annotations

import logging
import zoneinfo

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from procrastinate.contrib.django import app

from readingcenter.accounts.models import Role, User
from readingcenter.accounts.moments import moment_text
from readingcenter.accounts.selectors import language_of
from readingcenter.audit.models import Outcome as AuditOutcome
from readingcenter.audit.services import audit_record
from readingcenter.critical.models import (
    AckVia,
    Channel,
    CriticalNotification,
    CriticalResult,
    HospitalContact,
    Outcome,
    State,
    ack_window,
    clean_critical_findings,
)
from readingcenter.errors import DomainError, NotFound
from readingcenter.notifications.services import email_send
from readingcenter.studies import hints

log = logging.getLogger(__name__)

SYSTEM_CRITICAL = "system:critical"
NOTIFY_TASK = "critical.notify"  # readingcenter/critical/jobs.py
CRITICAL_ALL_GROUP = "critical.all"


def critical_hospital_group(hospital_id: int) -> str:
    return f"critical.hospital.{hospital_id}"


def _announce(result: CriticalResult, event: str) -> None:
    """A hint after commit to managers and to the result's hospital (its users' page
    refetches, which is the portal notification being shown); never state."""
    message = {
        "type": "critical.hint",
        "critical_result_id": result.id,
        "hospital_id": result.hospital_id,
        "state": result.state,
        "level": result.level,
        "event": event,
    }
    hints.on_commit_send(
        ("critical", result.id),
        [(CRITICAL_ALL_GROUP, message), (critical_hospital_group(result.hospital_id), message)],
    )


def _site_url(path: str) -> str:
    return getattr(settings, "SITE_URL", "http://127.0.0.1:8000").rstrip("/") + path


def _same_finding(text: str) -> str:
    return " ".join(text.lower().split())


def _defer_notify(critical_result_id: int) -> None:
    """Defer the notify job (critical/jobs.py) in the caller's transaction.

    By its name: the job module calls this one, so this one does not import it. The task
    brings its queue and retries; an unknown name is an error, not a new task.
    """
    app.configure_task(name=NOTIFY_TASK, allow_unknown=False).defer(
        critical_result_id=critical_result_id
    )


# -- raised at signing ----------------------------------------------------------------------------


def critical_results_open(*, report, actor, request=None) -> list[CriticalResult]:
    """Turn a signed report's critical findings into open results and defer their notification.

    Called by the reports code inside the signing transaction: the results, their audit lines
    and the notify jobs exist only if the signature commits. Idempotent. A finding that an
    earlier signed version of the same study already raised (a final report repeating its
    preliminary) is the same communication and is not raised again: the hospital is told
    once, and the earlier result is returned in its place.
    """
    if not report.is_signed:
        raise DomainError(
            "report_not_signed", _("Critical results are raised by a signed report."), status=409
        )
    findings = clean_critical_findings(report.critical_findings)
    if not findings:
        return []
    known = {
        (_same_finding(r.finding), r.category): r
        for r in CriticalResult.objects.filter(study_id=report.study_id).order_by("id")
    }
    raised_at = report.signed_at or timezone.now()
    results, created = [], []
    for position, item in enumerate(findings):
        key = (_same_finding(item["finding"]), item["category"])
        if key in known:
            if known[key] not in results:
                results.append(known[key])
            continue
        result = CriticalResult.objects.create(
            report=report,
            position=position,
            study_id=report.study_id,
            hospital_id=report.hospital_id,
            finding=item["finding"],
            category=item["category"],
            raised_at=raised_at,
            due_at=raised_at + ack_window(item["category"]),
        )
        known[key] = result
        results.append(result)
        created.append(result)
    patient_id = report.study.patient_id if created else ""
    for result in created:
        audit_record(
            actor=actor,
            action="critical_result.open",
            target=result,
            hospital=result.hospital_id,
            patient_id=patient_id,
            request=request,
            detail={
                "report_id": report.pk,
                "version_number": report.version_number,
                "category": result.category,
                "due_at": result.due_at.isoformat(),
            },
        )
        _announce(result, "raised")
        # Deferred in the signing transaction: Procrastinate's job row commits with it.
        _defer_notify(result.id)
    return results


# -- planning who is told -------------------------------------------------------------------------


def _managers_with_email() -> list[User]:
    return list(
        User.objects.filter(
            Q(role__in=[Role.MANAGER, Role.ADMIN]) | Q(is_superuser=True), is_active=True
        )
        .exclude(email="")
        .order_by("username")
    )


def _manager_rows(result: CriticalResult, level: int, why: str) -> list[CriticalNotification]:
    managers = _managers_with_email()
    if not managers:
        # Still recorded, and the managers' page shows it through the hint: an alert nobody
        # can receive by email must at least be visible.
        return [
            CriticalNotification(
                critical_result=result,
                level=level,
                channel=Channel.MANAGER,
                recipient_name="managers",
                outcome=Outcome.FAILED,
                detail=f"{why} No manager has an email address; shown on the critical "
                "results page only.",
            )
        ]
    return [
        CriticalNotification(
            critical_result=result,
            level=level,
            channel=Channel.MANAGER,
            recipient=manager.email,
            recipient_name=manager.get_full_name() or manager.get_username(),
            detail=why,
        )
        for manager in managers
    ]


def _plan_level(result: CriticalResult, level: int, *, escalation: str, now) -> list:
    """The notifications of one level: every active contact on every channel it has, and the
    managers when this is an escalation or when nobody at this level can be reached."""
    contacts = list(
        HospitalContact.objects.filter(
            hospital_id=result.hospital_id, level=level, is_active=True
        ).select_related("user")
    )
    rows, phone_only = [], []
    for contact in contacts:
        channels = contact.channels
        if Channel.PORTAL in channels:
            # The row is the notification: the hospital's page lists it from now on, and the
            # hint after commit makes open pages refetch.
            rows.append(
                CriticalNotification(
                    critical_result=result,
                    level=level,
                    contact=contact,
                    channel=Channel.PORTAL,
                    recipient=contact.user.get_username(),
                    recipient_name=contact.label,
                    outcome=Outcome.SENT,
                    sent_at=now,
                    detail="Shown on the hospital's critical results page.",
                )
            )
        if Channel.EMAIL in channels:
            rows.append(
                CriticalNotification(
                    critical_result=result,
                    level=level,
                    contact=contact,
                    channel=Channel.EMAIL,
                    recipient=contact.email,
                    recipient_name=contact.label,
                )
            )
        if not channels:
            phone_only.append(contact)
    if not rows:
        # A critical result nobody can be told about is itself an incident: the managers at
        # once, with the phone numbers there are.
        why = f"No contact at level {level} can be notified"
        if phone_only:
            numbers = "; ".join(f"{c.label}: {c.phone or 'no phone'}" for c in phone_only)
            why += f" automatically; call them ({numbers})."
        else:
            why += f": {result.hospital.name} has no active contact at this level."
        if escalation:
            why = f"{escalation} {why}"
        rows += _manager_rows(result, level, why)
    elif escalation:
        rows += _manager_rows(result, level, escalation)
    return rows


def _plan_through(result: CriticalResult, *, escalation: str = "", now=None) -> int:
    """Create the notifications of every level up to the result's current one that has none
    yet. The caller holds the result's row (locked, or just updated in its transaction)."""
    now = now or timezone.now()
    planned = 0
    for level in range(result.notified_level + 1, result.level + 1):
        rows = _plan_level(
            result, level, escalation=escalation if level == result.level else "", now=now
        )
        CriticalNotification.objects.bulk_create(rows)
        planned += len(rows)
        audit_record(
            actor=SYSTEM_CRITICAL,
            action="critical_result.notify",
            target=result,
            hospital=result.hospital_id,
            detail={
                "level": level,
                "notifications": [f"{row.channel}:{row.recipient or '-'}" for row in rows],
            },
        )
    if result.level > result.notified_level:
        CriticalResult.objects.filter(pk=result.pk).update(notified_level=result.level)
        result.notified_level = result.level
        _announce(result, "notified")
    return planned


# -- sending --------------------------------------------------------------------------------------


def _local(value, hospital) -> str:
    try:
        zone = zoneinfo.ZoneInfo(hospital.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return moment_text(value, zone)


def _email_for(notification: CriticalNotification) -> tuple[str, str]:
    from readingcenter.studies.templatetags.dicom import person_name

    result = notification.critical_result
    study, hospital, report = result.study, result.hospital, result.report
    signer = report.signed_by
    contacts = []
    if notification.channel == Channel.MANAGER:
        contacts = list(
            HospitalContact.objects.filter(hospital_id=hospital.id, is_active=True).order_by(
                "level", "name"
            )
        )
    context = {
        "notification": notification,
        "result": result,
        "study": study,
        "hospital": hospital,
        "signer": report.signature_name
        or (signer.get_full_name() or signer.get_username() if signer else ""),
        "signed_at": _local(report.signed_at, hospital) if report.signed_at else "",
        "raised_at": _local(result.raised_at, hospital),
        "due_at": _local(result.due_at, hospital),
        "ack_url": _site_url(reverse("critical-result-detail", args=[result.pk])),
        "api_path": reverse("critical-result-acknowledge-api", args=[result.pk]),
        "callback_phone": getattr(settings, "CRITICAL_CALLBACK_PHONE", ""),
        "contacts": contacts,
        "is_manager_alert": notification.channel == Channel.MANAGER,
    }
    # In the recipient's language; the times stay in the hospital's zone (as the page's).
    with translation.override(_recipient_language(notification)):
        context["patient_name"] = person_name(study.patient_name) or _("(no name)")
        subject = render_to_string("critical/email/subject.txt", context)
        body = render_to_string("critical/email/body.txt", context)
    return " ".join(subject.split()), body


def _recipient_language(notification: CriticalNotification) -> str:
    """The language to write to this notification's recipient in: the contact's user's (his
    own, else his hospital's report language); a manager's, found by the address his alert
    went to; a contact known only by an address reads the hospital's report language."""
    contact = notification.contact
    if contact is not None and contact.user_id is not None:
        return language_of(contact.user)
    if notification.channel == Channel.MANAGER:
        manager = (
            User.objects.filter(email__iexact=notification.recipient, is_active=True)
            .order_by("-is_superuser", "pk")
            .first()
        )
        return language_of(manager)
    return notification.critical_result.hospital.report_language


def _send_email(notification: CriticalNotification) -> tuple[str, str]:
    """(outcome, detail). A refused address, a dead SMTP server, a timeout: recorded."""
    subject, body = _email_for(notification)
    sent = email_send(
        to=notification.recipient,
        subject=subject,
        body=body,
        from_email=getattr(settings, "CRITICAL_FROM_EMAIL", None),
        default_timeout=getattr(settings, "CRITICAL_EMAIL_TIMEOUT", 10),
    )
    if not sent.sent:
        log.warning(
            "critical result %s: email to %s failed: %s",
            notification.critical_result_id,
            notification.recipient,
            sent.error,
        )
        return Outcome.FAILED, sent.error
    return Outcome.SENT, ""


def _send_one(notification_id: int) -> CriticalNotification | None:
    with transaction.atomic():
        # SKIP LOCKED: another worker sending this very notification keeps it; nobody waits.
        notification = (
            CriticalNotification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related(
                "critical_result__study",
                "critical_result__hospital",
                "critical_result__report__signed_by",
            )
            .filter(pk=notification_id, outcome=Outcome.PENDING)
            .first()
        )
        if notification is None:
            return None
        result = notification.critical_result
        if not result.is_open:
            notification.outcome = Outcome.CANCELLED
            who = result.acknowledged_by_name or "the hospital"
            notification.detail = f"{notification.detail} Acknowledged by {who} first.".strip()
        else:
            outcome, reason = _send_email(notification)
            notification.outcome = outcome
            notification.sent_at = timezone.now() if outcome == Outcome.SENT else None
            if reason:
                notification.detail = f"{notification.detail} Failed: {reason}".strip()
        notification.save(update_fields=["outcome", "sent_at", "detail"])
        if notification.outcome != Outcome.CANCELLED:
            audit_record(
                actor=SYSTEM_CRITICAL,
                action="critical_result.email",
                target=result,
                hospital=result.hospital_id,
                patient_id=result.study.patient_id,
                outcome=(
                    AuditOutcome.SUCCESS
                    if notification.outcome == Outcome.SENT
                    else AuditOutcome.ERROR
                ),
                detail={
                    "notification_id": notification.pk,
                    "channel": notification.channel,
                    "recipient": notification.recipient,
                    "level": notification.level,
                },
            )
    return notification


def _send_pending(critical_result_id: int) -> list[CriticalNotification]:
    ids = list(
        CriticalNotification.objects.filter(
            critical_result_id=critical_result_id, outcome=Outcome.PENDING
        )
        .order_by("id")
        .values_list("id", flat=True)
    )
    return [n for n in (_send_one(pk) for pk in ids) if n is not None]


def _alert_when_nobody_was_reached(critical_result_id: int) -> bool:
    """Every notification of a level failed (bounced, SMTP down): tell the managers, once."""
    with transaction.atomic():
        result = (
            CriticalResult.objects.select_for_update(of=("self",))
            .select_related("hospital")
            .filter(pk=critical_result_id, state=State.OPEN)
            .first()
        )
        if result is None:
            return False
        by_level: dict[int, set[str]] = {}
        managed: set[int] = set()
        for level, channel, outcome in result.notifications.values_list(
            "level", "channel", "outcome"
        ):
            if channel == Channel.MANAGER:
                managed.add(level)
            else:
                by_level.setdefault(level, set()).add(outcome)
        rows = []
        for level, outcomes in sorted(by_level.items()):
            if level not in managed and outcomes == {Outcome.FAILED}:
                why = f"Every notification at level {level} failed: nobody has been told."
                rows += _manager_rows(result, level, why)
        if not rows:
            return False
        CriticalNotification.objects.bulk_create(rows)
        audit_record(
            actor=SYSTEM_CRITICAL,
            action="critical_result.unreachable",
            target=result,
            hospital=result.hospital_id,
            detail={"managers": [row.recipient for row in rows]},
        )
        _announce(result, "unreachable")
    return True


def critical_result_notify(*, critical_result_id: int) -> list[CriticalNotification]:
    """The notify job's work: plan the result's notifications up to its level (once), send
    what is pending. Safe to run any number of times, by any number of workers."""
    with transaction.atomic():
        result = (
            CriticalResult.objects.select_for_update(of=("self",))
            .select_related("hospital")
            .filter(pk=critical_result_id)
            .first()
        )
        if result is None:
            log.warning("critical result %s vanished before its notification", critical_result_id)
            return []
        if result.is_open:
            _plan_through(result)
    sent = _send_pending(critical_result_id)
    if _alert_when_nobody_was_reached(critical_result_id):
        sent += _send_pending(critical_result_id)
    return sent


# -- escalation -----------------------------------------------------------------------------------


def _window_text(category: str) -> str:
    minutes = int(ack_window(category).total_seconds() // 60)
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def critical_results_escalate(*, now=None) -> list[int]:
    """Open results past their due time go one level up: the contacts of the new level and
    the managers are told, and a new window starts. Returns the ids escalated.

    Run every minute by the periodic job, maybe by two workers at once: each step is one
    conditional UPDATE on the level that was read, so only one of them takes it. Past the
    hospital's last contact level the managers are alerted again every window.
    """
    now = now or timezone.now()
    due = list(
        CriticalResult.objects.filter(state=State.OPEN, due_at__lte=now)
        .order_by("due_at")
        .values_list("id", "level", "category")[:500]
    )
    escalated = []
    for result_id, level, category in due:
        with transaction.atomic():
            won = CriticalResult.objects.filter(
                pk=result_id, state=State.OPEN, level=level, due_at__lte=now
            ).update(
                level=level + 1,
                due_at=now + ack_window(category),
                escalated_at=now,
                updated_at=now,
            )
            if not won:
                continue  # acknowledged meanwhile, or another worker took this step
            result = CriticalResult.objects.select_related("hospital", "study").get(pk=result_id)
            why = (
                f"Escalated: not acknowledged within {_window_text(category)} at level {level} "
                f"({result.get_category_display()})."
            )
            _plan_through(result, escalation=why, now=now)
            audit_record(
                actor=SYSTEM_CRITICAL,
                action="critical_result.escalate",
                target=result,
                hospital=result.hospital_id,
                patient_id=result.study.patient_id,
                detail={
                    "from_level": level,
                    "to_level": level + 1,
                    "due_at": result.due_at.isoformat(),
                },
            )
            _announce(result, "escalated")
            _defer_notify(result_id)
        escalated.append(result_id)
    if escalated:
        log.info("escalated %d critical results", len(escalated))
    return escalated


# -- acknowledgement ------------------------------------------------------------------------------


# On the page and by phone a person confirms the read-back; a hospital system says what it knows.
READ_BACK_REQUIRED = (AckVia.PORTAL, AckVia.PHONE)


def _acknowledger_name(user, via: str, name: str) -> str:
    """Who took it, as the record names him (a hospital user or a manager); refused when the
    way in does not fit the role."""
    if user.is_hospital_user:
        if via not in (AckVia.PORTAL, AckVia.API):
            raise DomainError(
                "via_not_allowed",
                _("Hospital users acknowledge on the page or from their system."),
                field="via",
            )
        return name or user.get_full_name() or user.get_username()
    if user.is_manager:
        if via != AckVia.PHONE:
            raise DomainError(
                "phone_only",
                _("The reading center records acknowledgements taken by phone: via 'phone'."),
                field="via",
            )
        if not name:
            raise DomainError(
                "name_required", _("Who took the call? (e.g. Dr Lee, ED, by phone)"), field="name"
            )
    return name


def critical_result_acknowledge(
    *,
    critical_result_id: int,
    user,
    via: str,
    name: str = "",
    role: str = "",
    read_back: bool | None = None,
    note: str = "",
    request=None,
) -> CriticalResult:
    """Record that the hospital knows. Of any number of simultaneous acknowledgements exactly
    one is recorded; the others get that one back (``just_acknowledged`` False), not an error.

    A hospital user of the result's hospital acknowledges on the page (``portal``) or from
    the hospital's system (``api``); a manager records one taken by phone (``phone``, with
    the name of who took the call). Who received it (``name``, ``role``) and whether he read
    the finding back (``read_back``) go on the record; on the page and by phone the read-back
    is required, from a hospital system it is recorded as the system says.
    """
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        raise NotFound(_("No such critical result."))
    name, role, note = (name or "").strip(), (role or "").strip(), (note or "").strip()
    visible = CriticalResult.objects.filter(pk=critical_result_id)
    if not (user.is_hospital_user or user.is_manager):
        from readingcenter.critical.selectors import critical_result_get

        critical_result_get(user=user, id=critical_result_id)  # 404 when not his to see
        raise DomainError(
            "not_allowed", _("Only the hospital, or a manager by phone, acknowledges."), status=403
        )
    name = _acknowledger_name(user, via, name)
    if user.is_hospital_user:
        visible = visible.filter(hospital_id=user.hospital_id)
    if not visible.exists():
        # Another hospital's result and one that does not exist look the same.
        raise NotFound(_("No such critical result."))
    if via in READ_BACK_REQUIRED and not read_back and visible.filter(state=State.OPEN).exists():
        raise DomainError(
            "read_back_required",
            _("Ask the receiver to read the finding back, and confirm that he did."),
            field="read_back",
        )
    now = timezone.now()
    with transaction.atomic():
        won = visible.filter(state=State.OPEN).update(
            state=State.ACKNOWLEDGED,
            acknowledged_at=now,
            acknowledged_by=user,
            acknowledged_by_name=name[:200],
            acknowledged_by_role=role[:200],
            read_back=None if read_back is None else bool(read_back),
            ack_via=via,
            note=note,
            updated_at=now,
        )
        result = CriticalResult.objects.select_related(
            "study", "hospital", "acknowledged_by", "report__signed_by"
        ).get(pk=critical_result_id)
        result.just_acknowledged = bool(won)
        if won:
            audit_record(
                actor=user,
                action="critical_result.acknowledge",
                target=result,
                hospital=result.hospital_id,
                patient_id=result.study.patient_id,
                request=request,
                detail={
                    "via": via,
                    "name": result.acknowledged_by_name,
                    "role": result.acknowledged_by_role,
                    "read_back": result.read_back,
                    "level": result.level,
                },
            )
            _announce(result, "acknowledged")
    return result
