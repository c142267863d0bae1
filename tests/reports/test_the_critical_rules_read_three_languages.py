"""The critical-finding rule set reads English, Korean and Chinese, and skips what is negated."""

from __future__ import annotations

import pytest

from readingcenter.reports.critical_rules import BY_KEY, mentions, names, term_for_ai


def _keys(text: str) -> list[str]:
    return [m.term.key for m in mentions(text)]


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        (
            "Moderate right pneumothorax with mediastinal shift; chest tube advised.",
            ["pneumothorax"],
        ),
        ("Acute left subdural hematoma, 8 mm, with midline shift.", ["intracranial_hemorrhage"]),
        ("Saddle pulmonary embolus with right heart strain.", ["pulmonary_embolism"]),
        ("Type A aortic dissection.", ["aortic_dissection"]),
        ("Free intraperitoneal air under the diaphragm.", ["pneumoperitoneum"]),
        ("우측 기흉이 있으며 흉관 삽입이 필요함.", ["pneumothorax"]),
        ("급성 경막하 출혈.", ["intracranial_hemorrhage"]),
        ("右侧气胸，肺组织压缩约30%。", ["pneumothorax"]),  # noqa: RUF001
        ("左侧硬膜下血肿。", ["intracranial_hemorrhage"]),
    ],
)
def test_it_finds_a_critical_finding_in_each_language(text, keys):
    assert _keys(text) == keys


@pytest.mark.parametrize(
    "text",
    [
        "No pneumothorax.",
        "The lungs are clear. No pleural effusion or pneumothorax.",
        "No evidence of intracranial hemorrhage, mass effect or midline shift.",
        "Interval resolution of the right pneumothorax.",
        "기흉은 없음.",
        "기흉 소견은 보이지 않음.",
        "未见气胸。",
        "双肺未见明显气胸。",
    ],
)
def test_a_negated_mention_is_not_a_finding(text):
    assert _keys(text) == []


def test_a_contrast_word_ends_the_negation():
    assert _keys("No effusion, but a small apical pneumothorax.") == ["pneumothorax"]


def test_it_quotes_the_sentence_that_names_the_finding():
    (mention,) = mentions("Heart size normal.\nSmall left pneumothorax. Follow-up advised.")
    assert mention.sentence == "Small left pneumothorax."


def test_a_finding_marked_critical_names_its_term_whatever_the_language():
    bleed = BY_KEY["intracranial_hemorrhage"]
    assert names("Acute left parietal intraparenchymal hemorrhage", bleed)
    assert names("급성 경막하 출혈", bleed)
    assert not names("Tension pneumothorax", bleed)


def test_an_ai_flag_maps_to_its_term_by_code_or_label():
    assert term_for_ai("ich", "intracranial hemorrhage").key == "intracranial_hemorrhage"
    assert term_for_ai("pneumothorax", "pneumothorax").key == "pneumothorax"
    assert term_for_ai("nodule", "lung nodule") is None
