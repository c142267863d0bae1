"""Send one e-mail, through Django's configured backend, with a bounded wait."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.mail import get_connection, send_mail

DEFAULT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class EmailResult:
    """``sent`` or not, and why not (``"ConnectionRefusedError: ..."``, at most 1000 chars)."""

    sent: bool
    error: str = ""


def email_send(
    *,
    to: str,
    subject: str,
    body: str,
    from_email: str | None = None,
    default_timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> EmailResult:
    """Send ``body`` to one address. Never raises for a failed send: a refused address, a dead
    SMTP server, a timeout come back as ``EmailResult(sent=False, error=...)`` for the caller
    to record.

    ``from_email`` None: DEFAULT_FROM_EMAIL. The wait is EMAIL_TIMEOUT, or ``default_timeout``
    seconds where that is unset or 0: an SMTP server that never answers must not hold a worker.
    """
    timeout = getattr(settings, "EMAIL_TIMEOUT", None) or default_timeout
    try:
        connection = get_connection(timeout=timeout)
        send_mail(
            subject, body, from_email or settings.DEFAULT_FROM_EMAIL, [to], connection=connection
        )
    except Exception as exc:  # noqa: BLE001 - any failure is an outcome, never a crash
        return EmailResult(False, f"{type(exc).__name__}: {exc}"[:1000])
    return EmailResult(True)
