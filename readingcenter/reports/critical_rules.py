"""Which critical findings a report's words name: a small rule set in English, Korean and Chinese.

At signing, a report whose impression names one of these findings (or whose AI flagged one
its template lists as critical) must either mark it critical or say why not; this module only
reads text. It looks for each finding's words and skips a mention that its clause negates
("No pneumothorax.", "기흉은 없음", "未见气胸"): English and Chinese put the negation before
the finding, Korean after it. A false alarm costs the radiologist one sentence of reason; a
missed one costs a call nobody made, so the rules lean towards asking.

Plain Python (no Django): the reports service and its tests call it directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What ends a clause: a negation before this point says nothing about what follows it.
_CLAUSE_END = re.compile(
    r"[.;:!?\n\u3002\uff1b\uff01\uff1f]|\b(?:but|however|although|though|except|whereas)\b|但|然而|하지만|그러나",
    re.IGNORECASE,
)
# Negation before the finding, in the same clause (English).
_NEGATION_BEFORE_EN = re.compile(
    r"\b(?:no|not|without|negative for|free of|absence of|absent|resolved|resolution of|"
    r"rule out|ruled out|r/o|no evidence of|no signs? of|exclude[sd]?)\b",
    re.IGNORECASE,
)
# ... and in Chinese (before the finding): 无, 未见, 没有, 未发现, 排除, 否认.
_NEGATION_BEFORE_ZH = re.compile(r"无|未见|没有|未发现|排除|否认|不伴")
# Korean puts it after the finding: 없음/없다/없습니다, 음성, 보이지 않, 관찰되지 않, 아님.
_NEGATION_AFTER_KO = re.compile(r"없|음성|보이지\s*않|관찰되지\s*않|아니|아님|배제")
# Korean and Chinese clauses run on without the punctuation English uses: a negation counts
# within this many characters of the finding ("未见明显气胸", "기흉의 소견은 없음").
_WINDOW = 10


@dataclass(frozen=True)
class CriticalTerm:
    """One finding a reader must at least consider calling in."""

    key: str
    label: str
    # The ACR category a reader would usually choose: how soon the referrer must know.
    category: str
    english: tuple[str, ...]  # regular expressions, matched as whole words, any case
    korean: tuple[str, ...]  # plain substrings
    chinese: tuple[str, ...]  # plain substrings


TERMS: tuple[CriticalTerm, ...] = (
    CriticalTerm(
        "pneumothorax",
        "pneumothorax",
        "minutes",
        (r"(?:tension )?pneumothora(?:x|ces)",),
        ("기흉",),
        ("气胸",),
    ),
    CriticalTerm(
        "intracranial_hemorrhage",
        "intracranial hemorrhage",
        "minutes",
        (
            r"(?:intracranial|intraparenchymal|intracerebral|cerebral|subarachnoid|"
            r"intraventricular|subdural|epidural|extradural|brain) ha?emorrhages?",
            r"(?:subdural|epidural|extradural|intracerebral|intraparenchymal) ha?ematomas?",
            r"brain bleed",
        ),
        (
            "뇌출혈",
            "두개내출혈",
            "두개 내 출혈",
            "경막하출혈",
            "경막하 출혈",
            "경막하혈종",
            "경막하 혈종",
            "경막외혈종",
            "경막외 혈종",
            "지주막하출혈",
            "지주막하 출혈",
            "뇌실내출혈",
        ),
        (
            "颅内出血",
            "脑出血",
            "硬膜下血肿",
            "硬膜外血肿",
            "蛛网膜下腔出血",
            "脑室内出血",
            "脑实质出血",
        ),
    ),
    CriticalTerm(
        "herniation",
        "brain herniation",
        "minutes",
        (r"(?:brain|cerebral|uncal|subfalcine|tonsillar|transtentorial) herniation",),
        ("뇌탈출", "뇌 탈출", "탈출증"),
        ("脑疝",),
    ),
    CriticalTerm(
        "pulmonary_embolism",
        "pulmonary embolism",
        "minutes",
        (r"pulmonary (?:embolism|emboli|embolus)", r"saddle embol(?:us|ism)"),
        ("폐색전증", "폐동맥 색전", "폐색전"),
        ("肺栓塞", "肺动脉栓塞"),
    ),
    CriticalTerm(
        "aortic_dissection",
        "aortic dissection",
        "minutes",
        (r"aortic dissection", r"dissection of the (?:thoracic |abdominal )?aorta"),
        ("대동맥박리", "대동맥 박리"),
        ("主动脉夹层",),
    ),
    CriticalTerm(
        "pneumoperitoneum",
        "free intraperitoneal air",
        "minutes",
        (r"pneumoperitoneum", r"free (?:intraperitoneal |intra-abdominal )?air"),
        ("기복증", "복강내 유리공기", "복강 내 유리 공기", "유리 공기"),
        ("气腹", "腹腔游离气体", "膈下游离气体"),
    ),
)
BY_KEY = {term.key: term for term in TERMS}
KEYS = tuple(BY_KEY)


@dataclass(frozen=True)
class Mention:
    term: CriticalTerm
    # The sentence that names it, as written (what a prompt quotes back).
    sentence: str


def _clauses(sentence: str) -> list[str]:
    return [c for c in _CLAUSE_END.split(sentence) if c and c.strip()]


def _sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?\u3002\uff01\uff1f])\s*|\n+", text or "")
    return [p.strip() for p in parts if p and p.strip()]


def _english(term: CriticalTerm):
    return re.compile(r"\b(?:" + "|".join(term.english) + r")\b", re.IGNORECASE)


def _affirmed_in(clause: str, term: CriticalTerm) -> bool:
    """Whether the clause names the term without negating it."""
    match = _english(term).search(clause)
    if match and not _NEGATION_BEFORE_EN.search(clause[: match.start()]):
        return True
    for word in term.chinese:
        at = clause.find(word)
        if at >= 0 and not _NEGATION_BEFORE_ZH.search(clause[max(0, at - _WINDOW) : at]):
            return True
    for word in term.korean:
        at = clause.find(word)
        after = clause[at + len(word) : at + len(word) + _WINDOW]
        if at >= 0 and not _NEGATION_AFTER_KO.search(after):
            return True
    return False


def mentions(text: str) -> list[Mention]:
    """The critical findings the text affirms, each once, with the first sentence naming it."""
    found: dict[str, Mention] = {}
    for sentence in _sentences(text):
        for term in TERMS:
            if term.key in found:
                continue
            if any(_affirmed_in(clause, term) for clause in _clauses(sentence)):
                found[term.key] = Mention(term=term, sentence=sentence)
    return list(found.values())


def names(text: str, term: CriticalTerm) -> bool:
    """Whether a critical finding's own words name the term (negation ignored: a finding
    marked critical is affirmed by being marked)."""
    if _english(term).search(text or ""):
        return True
    return any(word in (text or "") for word in (*term.korean, *term.chinese))


def term_for_ai(code: str, label: str) -> CriticalTerm | None:
    """The rule-set finding an AI flag stands for (``ich`` / "intracranial hemorrhage")."""
    aliases = {"ich": "intracranial_hemorrhage", "ptx": "pneumothorax", "pe": "pulmonary_embolism"}
    key = aliases.get((code or "").lower(), (code or "").lower())
    if key in BY_KEY:
        return BY_KEY[key]
    for term in TERMS:
        if names(label, term) or (label or "").strip().lower() == term.label:
            return term
    return None
