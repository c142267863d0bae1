"""Showing DICOM values the way people read them."""

from __future__ import annotations

import re

from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()


def _alphabetic(group: str) -> str:
    family, given, middle, prefix, suffix = (group.split("^") + [""] * 5)[:5]
    first = " ".join(p for p in (prefix, given, middle) if p)
    name = f"{family}, {first}" if family and first else family or first
    return f"{name}, {suffix}" if suffix else name


@register.filter
def person_name(value: str) -> str:
    """``Hong^Gildong=洪^吉洞=홍^길동`` -> ``Hong, Gildong (洪吉洞 · 홍길동)``.

    The alphabetic group reads "Family, Given"; ideographic and phonetic groups are written
    family name first without a space, as Korean, Chinese and Japanese names are.
    """
    if not value:
        return ""
    groups = value.split("=")
    main = _alphabetic(groups[0])
    others = ["".join(g.split("^")) for g in groups[1:] if g.replace("^", "")]
    if not main:
        return " · ".join(others)
    return f"{main} ({' · '.join(others)})" if others else main


@register.simple_tag
def ai_summary(study) -> dict:
    """The AI's word on the study as it is now, for a badge: flags, or "AI not run"."""
    from readingcenter.studies.api import ai_summary as summarise

    return summarise(study)


# The AI's run statuses (triage.models.RunStatus) in the words a hospital reads.
_AI_STATUS_WORDS = {
    "succeeded": _("read by the AI"),
    "not_applicable": _("not made for this study"),
    "failed": _("could not be read by the AI"),
    "low_confidence": _("read, but too unsure to flag anything"),
}
# The AI's own reason for a priority (triage.subscribers.ai_signals), taken apart for words.
_AI_REASON = re.compile(r"^AI (?P<model>\S+) (?P<version>\S+) flags (?P<code>\S+) "
                        r"\(probability (?P<p>[\d.]+)\)$")  # fmt: skip


@register.filter
def percent(value) -> str:
    """0.435672 -> "44%": a probability as people read it."""
    try:
        return f"{float(value) * 100:.0f}%"
    except (TypeError, ValueError):
        return ""


@register.filter
def ai_status(value: str) -> str:
    return _AI_STATUS_WORDS.get(value, str(value).replace("_", " "))


def priority_reason_words(reason: str) -> str:
    """A priority's reason as a sentence: the AI's is "raised by AI model head-ct-ich 1.0.0
    (ich flagged, 91%)"; the others are written in words where they are made."""
    match = _AI_REASON.match(reason or "")
    if not match:
        return reason or ""
    return _("raised by AI model %(model)s %(version)s: %(code)s flagged, %(p)s") % {
        **match.groupdict(),
        "p": percent(match["p"]),
    }


@register.simple_tag
def priority_story(study) -> dict:
    """How the study got its priority: {"now": "STAT", "ordered": "Urgent" (when an order
    asked for another), "why": "raised by AI model ..."}, for "Urgent → STAT (raised by ...)"."""
    order = study.order if study.order_id else None
    now = study.get_priority_display()
    ordered = order.get_priority_display() if order and order.priority != study.priority else ""
    return {"now": now, "ordered": ordered, "why": priority_reason_words(study.priority_reason)}


@register.filter
def reason_words(reason: str) -> str:
    """A recorded reason (a timeline's, a priority's) in words: ``priority_reason_words``."""
    return priority_reason_words(reason)
