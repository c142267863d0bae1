from __future__ import annotations

from typing import Any

from django.db import connection, transaction

from readingcenter.audit.models import AuditEvent, Outcome
from readingcenter.db import insert_sql


def _client_ip(request) -> str | None:
    if request is None:
        return None
    # Behind the load balancer the real client is the first X-Forwarded-For hop; only trust it
    # when the operator says a proxy is in front (otherwise any client could forge it).
    from django.conf import settings

    if getattr(settings, "TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def audit_event(
    *,
    actor,
    action: str,
    target=None,
    target_type: str = "",
    target_id: str | int = "",
    hospital=None,
    patient_id: str = "",
    outcome: str = Outcome.SUCCESS,
    request=None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """One event, not yet saved: ``audit_record`` saves it; a statement of its own may insert it
    (delivery.services._write)."""
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
    user = actor if getattr(actor, "is_authenticated", False) else None
    if user is not None:
        label = user.get_username()
    elif isinstance(actor, str):
        label = actor
    else:
        label = "anonymous"
    return AuditEvent(
        actor=user,
        actor_label=label,
        action=action,
        outcome=outcome,
        target_type=target_type,
        target_id="" if target_id in (None, "") else str(target_id),
        hospital_id=getattr(hospital, "pk", hospital),
        patient_id=patient_id or "",
        ip_address=_client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:256] if request is not None else ""),
        detail=detail or {},
    )


def audit_record(**fields: Any) -> AuditEvent:
    """Append one event (the fields of ``audit_event``). Call it inside the transaction of the
    write it describes."""
    event = audit_event(**fields)
    event.save(force_insert=True)
    return event


def audit_read_record(**fields: Any) -> AuditEvent:
    """Append the event of a read that was served (a list or an object shown).

    Its commit does not wait for the disk flush (``synchronous_commit`` off, for this one
    transaction): the flush is an fdatasync, 0.1-0.2 ms on an idle disk but up to 4 ms while
    other writes go on, more than the rest of a worklist page's SQL (README, "The worklist and
    the viewer"). The row still goes to the write-ahead log in order, is flushed by
    PostgreSQL's WAL writer within 3 x ``wal_writer_delay`` (0.6 s by default) and by the next
    write that commits, whichever comes first; only a crash of the database server inside
    that window could lose it. Writes, and the events of writes, always commit durably
    (``audit_record`` inside the write's own transaction). Inside a transaction already open,
    the event joins it and commits as that transaction does.

    Outside one, the setting and the insert go as one query string: PostgreSQL runs the
    statements of one string as one implicit transaction, so ``SET LOCAL`` holds for the
    insert and its commit, and the read pays one round trip instead of four (BEGIN, SET,
    INSERT, COMMIT). That needs the client-side binding Django's psycopg cursors use unless
    ``server_side_binding`` is set; with it, the same is done in an explicit transaction.
    """
    if connection.in_atomic_block:
        return audit_record(**fields)
    if connection.settings_dict["OPTIONS"].get("server_side_binding"):
        with transaction.atomic():
            with connection.cursor() as cursor:
                # SET LOCAL: for this transaction only; the connection is back to durable
                # commits when it ends, whatever it is used for next.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            return audit_record(**fields)
    event = audit_event(**fields)
    insert, params = insert_sql([event])
    with connection.cursor() as cursor:
        # The ORM compiler's INSERT, with placeholders: no value is in the text.
        cursor.execute(f"SET LOCAL synchronous_commit TO OFF; {insert} RETURNING id", params)
        cursor.nextset()  # past SET's empty result, to the INSERT's
        event.pk = cursor.fetchone()[0]
    event._state.adding = False
    return event
