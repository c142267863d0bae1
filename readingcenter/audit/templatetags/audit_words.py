"""An audit line as a manager reads it: what its target is, and its detail in words."""

from __future__ import annotations

from django import template
from django.apps import apps
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

register = template.Library()

# Targets that are no model of ours: pages and systems.
_NAMED = {
    "study": _("Study"),
    "ops.dashboard": _("Operations dashboard"),
    "audit.auditevent": _("Audit trail"),
}


def target_noun(target_type: str) -> str:
    """ "worklist.case" -> "Case": the model's own name, else a plain word."""
    if target_type in _NAMED:
        return str(_NAMED[target_type])
    app_label, _dot, model_name = (target_type or "").partition(".")
    try:
        return capfirst(apps.get_model(app_label, model_name)._meta.verbose_name)
    except (LookupError, ValueError):
        return (target_type or "").replace(".", " ").replace("_", " ")


@register.filter
def target_words(event) -> str:
    """ "Case 18", "Report 7", "Operations dashboard"."""
    noun = target_noun(event.target_type)
    return f"{noun} {event.target_id}" if event.target_id else noun


def _value(value) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if value is True:
        return str(_("yes"))
    if value is False:
        return str(_("no"))
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    return str(value)


@register.filter
def detail_words(detail) -> list[tuple[str, str]]:
    """The detail's fields as (label, value) pairs: "results: 12", not a Python dict."""
    if not isinstance(detail, dict):
        return [("", _value(detail))] if detail else []
    return [(key.replace("_", " "), _value(value)) for key, value in detail.items()]
