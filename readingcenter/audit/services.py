from __future__ import annotations

from typing import Any

from readingcenter.audit.models import AuditEvent, Outcome


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
