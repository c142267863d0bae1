"""Which subspecialty reads a study, from what the hospital wrote about it.

Words in the study, series and procedure descriptions and BodyPartExamined decide; the first
rule that matches wins, so the specific ones (breast, cardiac) come before the broad ones.
Hospitals write in English, Korean and Chinese, so the words are in all three.
"""

from __future__ import annotations

import re

from readingcenter.accounts.models import Subspecialty

_RULES: list[tuple[str, tuple[str, ...]]] = [
    (Subspecialty.BREAST, ("breast", "mammo", "유방", "乳腺")),
    (Subspecialty.CARDIAC, ("cardiac", "heart", "coronary", "심장", "心脏", "冠脉")),
    (
        Subspecialty.NEURO,
        (
            "head",
            "brain",
            "skull",
            "neuro",
            "spine",
            "cspine",
            "neck",
            "orbit",
            "뇌",
            "두부",
            "头颅",
            "颅脑",
            "脑",
        ),
    ),
    (
        Subspecialty.CHEST,
        ("chest", "thorax", "lung", "pulmonary", "흉부", "폐", "胸部", "胸", "肺"),
    ),
    (
        Subspecialty.BODY,
        ("abdomen", "abdo", "pelvis", "liver", "kidney", "renal", "복부", "腹部", "盆腔"),
    ),
    (
        Subspecialty.MSK,
        (
            "knee",
            "shoulder",
            "hip",
            "ankle",
            "wrist",
            "hand",
            "foot",
            "elbow",
            "extremity",
            "bone",
            "msk",
            "무릎",
            "膝",
            "骨",
        ),
    ),
]


def _words(text: str) -> str:
    return re.sub(r"[^\w]+", " ", (text or "").lower())


def subspecialty_for(
    *, body_part: str = "", descriptions: tuple[str, ...] = (), modalities=()
) -> str:
    text = " ".join(_words(t) for t in (body_part, *descriptions))
    for subspecialty, words in _RULES:
        for word in words:
            if word.isascii():
                if re.search(rf"\b{re.escape(word)}", text):
                    return subspecialty
            elif word in text:
                return subspecialty
    if "MG" in modalities:
        return Subspecialty.BREAST
    return Subspecialty.GENERAL
