"""The ``when`` filter: every moment on every page written one way (accounts.moments)."""

from __future__ import annotations

from django import template

from readingcenter.accounts.moments import moment_text

register = template.Library()


@register.filter
def when(value) -> str:
    """``{{ case.due_at|when }}`` -> "2026-12-05 20:50 UTC+8" in the user's zone."""
    return moment_text(value)
