"""Domain errors with stable codes: what went wrong, in words and in a code clients can test."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """``code`` is stable (clients test it; never translated); ``message`` is for people: a
    string translated where it was raised, or a lazy one (gettext_lazy) that the API renders
    in the language active when the response is made."""

    status_code = 400

    def __init__(
        self, code: str, message: str, *, field: str | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        if status is not None:
            self.status_code = status


class NotFound(DomainError):
    status_code = 404

    def __init__(self, message: str = _("Not found.")):
        super().__init__("not_found", message)


class Conflict(DomainError):
    status_code = 409
