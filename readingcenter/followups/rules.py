"""Follow-up recommendations in report text, in English, Korean and Chinese: a small rule set.

A sentence is a recommendation when it holds a follow-up word ("follow-up", "repeat",
"recommend"; 추적, 재검; 复查, 随访) and an interval ahead ("in 3 months", "6-week", "3개월 후",
"3个月后"; never "3 months ago", 전, 前), and no negation ("no follow-up is needed"; 불필요;
无需). The modality is the first one named in the sentence, or none (any study closes
it). Plain Python: the tests measure its precision and recall on sentences they ship.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "nine": 9,
                "twelve": 12, "eighteen": 18, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
                "五": 5, "六": 6, "九": 9, "十二": 12, "十八": 18}  # fmt: skip

# ASCII abbreviations bounded by non-letters (in Korean and Chinese text "复查CT" has no \b),
# in capitals only: "contact us in 2 weeks" names no ultrasound.
_A = r"(?<![A-Za-z])"
_Z = r"(?![A-Za-z])"
MODALITIES = [
    ("CT", rf"(?-i:{_A}CT{_Z})|\bcomputed tomography\b"),
    ("MR", rf"(?-i:{_A}MRI?{_Z})|\bmagnetic resonance\b|자기공명|磁共振"),
    ("US", rf"\bultrasound\b|\bsonograph\w*|(?-i:{_A}US{_Z})|초음파|超声|B超"),
    ("CR", rf"\bx-?ray\b|\bradiograph\w*|(?-i:{_A}CXR{_Z})|X선|엑스레이|X线|胸片"),
    ("MG", r"\bmammogra\w*|유방촬영|钼靶"),
    ("PT", rf"(?-i:{_A}PET{_Z})"),
]

_I = re.IGNORECASE  # every rule is matched without regard to case
_NUMBER = (
    r"(\d+(?:\.\d+)?|one|two|three|four|five|six|nine|twelve|eighteen|[一二两三四五六九]|十二|十八)"
)
LANGUAGES = {
    "en": {
        "trigger": r"follow[- ]?up|repeat|recommend|suggest|surveillance|re-?evaluat|reassess",
        # Ahead only: "in 3 months", "a 6-month follow-up"; never "3 months ago".
        "interval": (
            rf"\b(?:in|within|after)\s+(?:another\s+)?{_NUMBER}(?:\s*(?:-|to)\s*\d+)?\s*"
            r"(day|week|month|year)s?\b"
            rf"|\b{_NUMBER}[- ](day|week|month|year)s?\s+(?:follow[- ]?up|interval|surveillance"
            r"|repeat)"
            rf"|\b{_NUMBER}-(day|week|month|year)\b"
            rf"|\bat\s+{_NUMBER}\s*(day|week|month|year)s?\b"
        ),
        "negation": r"\bno\b[^.]*\b(follow|need|further)|\bnot\s+(?:needed|necessary|required"
        r"|recommended)|\bunnecessary\b",
    },
    "ko": {
        "trigger": r"추적|추시|재검|재촬영|권고|권장|요망",
        "interval": rf"{_NUMBER}\s*(일|주|개월|달|년)\s*(?:후|뒤|이내|내|간격)",
        "negation": r"불필요|필요\s*없|필요하지\s*않|권고하지\s*않",
    },
    "zh": {
        "trigger": r"复查|随访|复诊|建议|定期",
        "interval": rf"{_NUMBER}\s*(天|日|周|个月|月|年)\s*(?:后|内|左右)",
        "negation": r"无需|不需|不必|无须",
    },
}
# Intervals said in a word: "annual", 반년 (half a year), 半年.
WORD_INTERVALS = {"en": {r"\b(?:annual|yearly)\b": 365, r"\bsemi-?annual\b": 180},
                  "ko": {r"반년\s*(?:후|뒤)": 180, r"매년|1년마다": 365},
                  "zh": {r"半年\s*(?:后|内)": 180, r"每年": 365}}  # fmt: skip
UNITS = {"일": "day", "주": "week", "개월": "month", "달": "month", "년": "year", "天": "day",
         "日": "day", "周": "week", "个月": "month", "月": "month", "年": "year"}  # fmt: skip


@dataclass(frozen=True)
class Recommendation:
    sentence: str
    language: str
    modality: str  # "" when the sentence names none
    interval_days: int


def language_of(text: str) -> str:
    if re.search(r"[\uac00-\ud7a3]", text):
        return "ko"
    if re.search(r"[\u4e00-\u9fff]", text):
        return "zh"
    return "en"


def sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+|(?<=[。\uff01\uff1f])\s*|\n+", text or "")
    return [p.strip() for p in parts if p and p.strip()]


def _number(value: str) -> float:
    return float(WORD_NUMBERS.get(value.lower()) or value)  # CJK numerals have no case


def _interval_days(match: re.Match) -> int:
    groups = [g for g in match.groups() if g]
    number, unit = groups[0], groups[1]
    unit = UNITS.get(unit, unit).lower()
    return round(_number(number) * UNIT_DAYS[unit])


def _word_interval(language: str, sentence: str) -> int:
    for pattern, days in WORD_INTERVALS[language].items():
        if re.search(pattern, sentence, _I):
            return days
    return 0


def find(text: str) -> list[Recommendation]:
    """Every follow-up recommendation in ``text`` (any of the three languages, mixed too)."""
    found = []
    for sentence in sentences(text):
        language = language_of(sentence)
        rules = LANGUAGES[language]
        if not re.search(rules["trigger"], sentence, _I):
            continue
        if re.search(rules["negation"], sentence, _I):
            continue
        interval = re.search(rules["interval"], sentence, _I)
        days = _interval_days(interval) if interval else _word_interval(language, sentence)
        if not days:
            continue
        modality = next(
            (code for code, pattern in MODALITIES if re.search(pattern, sentence, _I)),
            "",
        )
        found.append(Recommendation(sentence, language, modality, days))
    return found
