"""Showing DICOM values the way people read them."""

from __future__ import annotations

from django import template

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
