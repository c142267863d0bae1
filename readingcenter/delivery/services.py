"""The outbox: what each hospital is owed, sent in order, once, however long it is down.

- ``deliveries_create`` runs inside the signing transaction: one Delivery per active endpoint
  of the hospital, and a drain job for each endpoint deferred in the same transaction.
- ``delivery_drain`` sends an endpoint's pending deliveries oldest first. It holds a
  PostgreSQL advisory lock on the endpoint for the whole drain, so two workers never send to
  one endpoint at once (which is what keeps the order and rules out a double send), and it
  stops at the first retryable failure: a later report never overtakes an earlier one.
  Each outcome is written right after its send, in one statement (``_write``), so a worker
  killed mid-drain has at most the one send whose write had not committed to make again, with
  the same idempotency keys (the hospital drops copies).
- Retries back off exponentially; after the last one the delivery is ``failed`` and shown
  to managers, who can retry it by hand. A periodic kick re-defers drains that are due, so
  nothing depends on a job or a worker having survived.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from procrastinate.contrib.django import app
from procrastinate.exceptions import AlreadyEnqueued

from readingcenter.audit.services import audit_event, audit_record
from readingcenter.db import insert_sql, update_sql
from readingcenter.delivery.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryEndpoint,
    DeliveryState,
)
from readingcenter.delivery.selectors import report_pdfs_warm
from readingcenter.errors import Conflict, DomainError, NotFound
from readingcenter.studies import hints

log = logging.getLogger(__name__)

SYSTEM_DELIVERY = "system:delivery"
DRAIN_TASK = "delivery.drain_endpoint"  # readingcenter/delivery/jobs.py
RENDER_TASK = "delivery.render_pdf"  # the same
# Advisory lock namespace (first key) for "draining endpoint N" (second key).
_LOCK_NAMESPACE = 7_301


def idempotency_key(report, endpoint: DeliveryEndpoint) -> str:
    """Stable for a report version and endpoint: the hospital drops what it already has."""
    prefix = settings.READING_CENTER_CODE
    return f"{prefix}-{report.study_id}-v{report.version_number}-{endpoint.channel}{endpoint.pk}"


def backoff_seconds(attempts: int) -> float:
    """Seconds before try ``attempts + 1``: doubling from DELIVERY_RETRY_BASE_SECONDS, capped."""
    base, cap = settings.DELIVERY_RETRY_BASE_SECONDS, settings.DELIVERY_RETRY_MAX_SECONDS
    return min(cap, base * (2 ** max(0, attempts - 1)))


def _hint(delivery: Delivery) -> None:
    message = {
        "type": "study.hint",
        "study_id": delivery.report.study_id,
        "status": f"delivery_{delivery.state}",
    }
    hints.on_commit_send(
        ("delivery", delivery.id),
        [
            (hints.ALL_STUDIES_GROUP, message),
            (hints.hospital_group(delivery.hospital_id), message),
        ],
    )


# -- creating (inside the signing transaction) ---------------------------------------------------
def deliveries_create(*, report) -> list[Delivery]:
    endpoints = list(
        DeliveryEndpoint.objects.filter(hospital_id=report.hospital_id, is_active=True).order_by(
            "id"
        )
    )
    created = []
    for endpoint in endpoints:
        delivery, made = Delivery.objects.get_or_create(
            report=report,
            endpoint=endpoint,
            defaults={
                "hospital_id": report.hospital_id,
                "channel": endpoint.channel,
                "idempotency_key": idempotency_key(report, endpoint),
            },
        )
        if made:
            created.append(delivery)
            audit_record(
                actor=SYSTEM_DELIVERY,
                action="delivery.queue",
                target=delivery,
                hospital=report.hospital_id,
                patient_id=report.study.patient_id,
                detail={"channel": endpoint.channel, "endpoint": endpoint.name},
            )
    if created:
        # The PDF is rendered now, whatever the hospital's systems do: after an outage their
        # drains only send.
        app.configure_task(name=RENDER_TASK, allow_unknown=False).defer(report_id=report.pk)
    for endpoint_id in {d.endpoint_id for d in created}:
        _defer_drain_now_and_after_commit(endpoint_id)
    return created


def _defer_drain_now_and_after_commit(endpoint_id: int) -> None:
    """Queue a drain in the caller's transaction; if one was already waiting, ask again once
    this transaction commits. The waiting drain may start, find nothing it can see, and finish
    before our delivery commits; without the second ask the delivery would wait for the
    periodic kick (up to a minute, and for a critical finding that matters)."""
    if not defer_drain(endpoint_id):
        transaction.on_commit(partial(defer_drain, endpoint_id), robust=True)


def defer_drain(endpoint_id: int, *, at=None) -> bool:
    """Queue a drain of the endpoint unless one is already waiting (its queueing lock)."""
    # By its name: the job module calls this one, so this one does not import it. The task
    # (jobs.drain_endpoint) brings its queue; an unknown name is an error, not a new task.
    job = app.configure_task(
        name=DRAIN_TASK,
        allow_unknown=False,
        lock=f"delivery-endpoint-{endpoint_id}",
        queueing_lock=f"delivery-endpoint-{endpoint_id}",
        schedule_at=at,
    )
    try:
        # A savepoint: the queueing lock's unique violation must not abort the caller's
        # transaction (the signing one).
        with transaction.atomic():
            job.defer(endpoint_id=endpoint_id)
    except AlreadyEnqueued:
        return False  # the waiting drain will find this delivery too
    return True


# -- sending -------------------------------------------------------------------------------------
@dataclass
class DrainResult:
    delivered: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    waiting: int | None = None  # the delivery a retryable failure left pending
    retry_at: object = None
    busy: bool = False  # another worker holds the endpoint


# Pending deliveries a drain reads at once, and what their documents are built from.
DRAIN_BATCH = 50
_DOCUMENT_RELATIONS = (
    "report__study__order",
    "report__hospital",
    "report__parent",
    "report__signed_by",
)


def _try_lock(endpoint_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_NAMESPACE, endpoint_id])
        return bool(cursor.fetchone()[0])


def _unlock(endpoint_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_NAMESPACE, endpoint_id])


def _commit_without_waiting_for_the_flush() -> None:
    """For this drain's outcomes: PostgreSQL acknowledges a commit before its WAL is on disk.

    A send is already done when its outcome commits, so what a lost commit costs is the same as
    a worker dying between the send and the commit: the delivery is still pending and is sent
    again with the same identifiers (HL7 MSH-10, the FHIR conditional create's identifier, the
    same DICOM UIDs), which the hospital's system drops as a copy. Only a crash of PostgreSQL
    itself loses such a commit, and only one of the last few hundred milliseconds; waiting for
    the flush cost a third of each delivery's time. ``_unlock`` restores the setting.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO off")


def delivery_drain(*, endpoint_id: int, now=None) -> DrainResult:
    """Send the endpoint's due deliveries in order until one must wait."""
    result = DrainResult()
    if not _try_lock(endpoint_id):
        result.busy = True
        return result
    try:
        _commit_without_waiting_for_the_flush()
        endpoint = DeliveryEndpoint.objects.filter(pk=endpoint_id).first()
        if endpoint is None:
            return result
        while True:
            # The oldest pending ones, a batch at a time, with all their documents read: only
            # this drain (its lock) changes an endpoint's pending deliveries meanwhile.
            batch = list(
                Delivery.objects.select_related(*_DOCUMENT_RELATIONS)
                .filter(endpoint_id=endpoint_id, state=DeliveryState.PENDING)
                .order_by("id")[:DRAIN_BATCH]
            )
            if not batch:
                return result
            report_pdfs_warm(list({d.report_id: d.report for d in batch}.values()))
            for delivery in batch:
                moment = now or timezone.now()
                if delivery.next_attempt_at > moment:
                    # The oldest pending one waits out its backoff: the others wait behind.
                    result.waiting, result.retry_at = delivery.id, delivery.next_attempt_at
                    return result
                done = _try(delivery, endpoint)
                # Before the next send: what stands between the hospital's acknowledgement
                # and the record of it is this one statement, the window in which a killed
                # worker leaves a sent delivery pending, to be sent again.
                _write(done)
                if done.error is None:
                    result.delivered.append(delivery.id)
                elif delivery.state == DeliveryState.FAILED:
                    result.failed.append(delivery.id)
                else:
                    result.waiting, result.retry_at = delivery.id, delivery.next_attempt_at
                    return result
    finally:
        _unlock(endpoint_id)


def _send(delivery: Delivery, endpoint: DeliveryEndpoint):
    """One send through the endpoint's channel; raises DeliveryFailed."""
    from readingcenter.delivery.channels import DeliveryFailed, send_dicom, send_fhir, send_hl7
    from readingcenter.delivery.selectors import report_document, report_pdf

    missing = endpoint.missing_settings()
    if missing:
        raise DeliveryFailed(
            "endpoint_incomplete",
            f"The {endpoint.get_channel_display()} endpoint '{endpoint.name}' lacks "
            f"{', '.join(missing)}; complete it in the admin, then retry.",
            retryable=False,
        )
    report = delivery.report
    if not report.hash_matches():
        # Never send text that is not what was signed.
        raise DeliveryFailed(
            "content_hash_mismatch",
            "The stored report no longer matches its signature hash; nothing was sent. "
            "Escalate to the reading center's administrator.",
            retryable=False,
        )
    document = report_document(report, idempotency_key=delivery.idempotency_key)
    # One PDF per signed version, whatever the endpoint or the try (it names the version's
    # key, not this delivery's), mostly rendered already (jobs.render_pdf).
    pdf = report_pdf(report, document=document)
    if endpoint.channel == Channel.DICOM:
        return send_dicom(
            document, ae_title=endpoint.ae_title, host=endpoint.host, port=endpoint.port, pdf=pdf
        )
    if endpoint.channel == Channel.HL7:
        return send_hl7(
            document,
            host=endpoint.host,
            port=endpoint.port,
            sending_application=settings.HL7_SENDING_APPLICATION,
            sending_facility=settings.HL7_SENDING_FACILITY,
            receiving_application=endpoint.receiving_application,
            receiving_facility=endpoint.receiving_facility,
            pdf=pdf,
            timeout=endpoint.timeout_seconds,
        )
    return send_fhir(
        document,
        base_url=endpoint.base_url,
        token=endpoint.auth_token,
        pdf=pdf,
        timeout=endpoint.timeout_seconds,
        verify=endpoint.verify_tls,
    )


@dataclass
class _Try:
    """One send's outcome, until ``_write`` records it."""

    delivery: Delivery
    started: object  # datetime
    finished: object
    seconds: float
    receipt: object = None  # channels.Receipt when sent
    error: object = None  # channels.DeliveryFailed when not


def _try(delivery: Delivery, endpoint: DeliveryEndpoint) -> _Try:
    """Send one delivery now; what happened is recorded by ``_write``."""
    from readingcenter.delivery.channels import DeliveryFailed

    started, clock = timezone.now(), time.monotonic()
    try:
        receipt, error = _send(delivery, endpoint), None
    except DeliveryFailed as exc:
        receipt, error = None, exc
    except Exception as exc:
        log.exception("delivery %s: unexpected error", delivery.idempotency_key)
        receipt = None
        error = DeliveryFailed(
            "internal_error",
            f"The reading center could not build or send this report ({exc.__class__.__name__}: "
            f"{exc}); it will be retried.",
            retryable=True,
        )
    seconds = time.monotonic() - clock
    return _Try(delivery, started, timezone.now(), seconds, receipt, error)


def _write(done: _Try) -> None:
    """Record a send just made in one statement: its attempt, its audit line and its row.

    One statement is one round trip to PostgreSQL and atomic without a BEGIN and a COMMIT
    around it (the inserts ride in its WITH clause); in a transaction of its own, with the
    row read again and the ORM's saves, the record of a send cost the worker more than the
    send. The delivery is not read again: the drain's lock on the endpoint makes it the only
    writer of its pending deliveries (a manager's retry only takes up failed ones), so the row
    is as the drain read it.
    """
    delivery, error, receipt = done.delivery, done.error, done.receipt
    now = timezone.now()
    delivery.attempts += 1
    attempt = DeliveryAttempt(
        delivery=delivery,
        number=delivery.attempts,
        started_at=done.started,
        finished_at=done.finished,
        succeeded=error is None,
        retryable=bool(error and error.retryable),
        error_code=error.code if error else "",
        message=error.message if error else receipt.summary,
        detail={"seconds": round(done.seconds, 3)} | ({} if error else dict(receipt.detail)),
    )
    if error is None:
        delivery.state = DeliveryState.DELIVERED
        delivery.delivered_at = done.finished
        delivery.receipt = {"summary": receipt.summary, **receipt.detail}
        delivery.last_error_code = delivery.last_error = ""
    else:
        delivery.last_error_code, delivery.last_error = error.code, error.message
        if error.retryable and delivery.attempts < settings.DELIVERY_MAX_ATTEMPTS:
            delivery.next_attempt_at = done.finished + timedelta(
                seconds=backoff_seconds(delivery.attempts)
            )
        else:
            delivery.state = DeliveryState.FAILED
    delivery.updated_at = now
    event = audit_event(
        actor=SYSTEM_DELIVERY,
        action="delivery.send",
        target=delivery,
        hospital=delivery.hospital_id,
        patient_id=delivery.report.study.patient_id,
        outcome="success" if error is None else "error",
        detail={
            "attempt": delivery.attempts,
            "state": delivery.state,
            "code": error.code if error else "",
            "channel": delivery.channel,
        },
    )
    attempt_sql, attempt_params = insert_sql([attempt])
    event_sql, event_params = insert_sql([event])
    update_sql_text, update_params = update_sql(
        Delivery.objects.filter(pk=delivery.id),
        {
            "attempts": delivery.attempts,
            "state": delivery.state,
            "delivered_at": delivery.delivered_at,
            "receipt": delivery.receipt,
            "last_error_code": delivery.last_error_code,
            "last_error": delivery.last_error,
            "next_attempt_at": delivery.next_attempt_at,
            "updated_at": now,
        },
    )
    # All three statements are the ORM compiler's, with placeholders: no value is in the text.
    sql = f"WITH attempt AS ({attempt_sql}), event AS ({event_sql}) {update_sql_text}"
    params = [*attempt_params, *event_params, *update_params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    _hint(delivery)


def delivery_retry(*, delivery_id: int, actor, request=None) -> Delivery:
    """A manager sends a failed delivery again (after fixing the endpoint, say)."""
    if not getattr(actor, "is_manager", False):
        raise DomainError("forbidden", _("Only managers retry deliveries."), status=403)
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .select_related("report__study")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            raise NotFound(_("No such delivery."))
        if delivery.state != DeliveryState.FAILED:
            raise Conflict(
                "not_failed",
                _("The delivery is %(state)s; only failed deliveries are retried by hand.")
                % {"state": delivery.state},
            )
        delivery.state = DeliveryState.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["state", "attempts", "next_attempt_at", "updated_at"])
        audit_record(
            actor=actor,
            action="delivery.retry",
            target=delivery,
            hospital=delivery.hospital_id,
            patient_id=delivery.report.study.patient_id,
            request=request,
            detail={"last_error_code": delivery.last_error_code},
        )
        _defer_drain_now_and_after_commit(delivery.endpoint_id)
        _hint(delivery)
    return delivery


def deliveries_kick(*, now=None) -> list[int]:
    """Re-defer a drain for every endpoint with a due delivery (the periodic backstop)."""
    now = now or timezone.now()
    endpoint_ids = sorted(
        set(
            Delivery.objects.filter(
                state=DeliveryState.PENDING, next_attempt_at__lte=now
            ).values_list("endpoint_id", flat=True)
        )
    )
    kicked = [endpoint_id for endpoint_id in endpoint_ids if defer_drain(endpoint_id)]
    return kicked
