"""A report is written in its hospital's language: the template and the macros in that language,
and the reader may switch the draft to another before signing."""

from __future__ import annotations

import pytest

from readingcenter.errors import DomainError
from readingcenter.reports.services import report_open_draft, report_save, template_headings
from readingcenter.worklist.services import case_claim
from tests.factories import make_case


def _head_ct_draft(hospital, radiologist):
    case = make_case(
        hospital,
        modalities=["CT"],
        body_part_examined="HEAD",
        study_description="CT HEAD WO CONTRAST",
        version=1,
    )
    case_claim(case_id=case.pk, user=radiologist)
    return report_open_draft(case_id=case.pk, user=radiologist)


@pytest.fixture
def ko_draft(hospital_a, radiologist, templates):
    hospital_a.report_language = "ko"
    hospital_a.save(update_fields=["report_language"])
    return _head_ct_draft(hospital_a, radiologist)


@pytest.fixture
def en_draft(hospital_b, radiologist, templates):
    assert hospital_b.report_language == "en"
    return _head_ct_draft(hospital_b, radiologist)


def test_a_korean_hospitals_draft_opens_from_the_korean_template(ko_draft):
    assert ko_draft.language == "ko"
    assert ko_draft.template.language == "ko"
    assert ko_draft.template.name == "CT 두부 비조영"
    assert "정맥 조영제" in ko_draft.technique
    assert ko_draft.findings.startswith("뇌실질: ")
    # The headings it requires are headings of its findings, as signing finds them.
    headings = template_headings(ko_draft.template)
    assert {"뇌실질", "축외 공간"} <= set(headings)
    assert {"뇌실질", "축외 공간"} <= set(ko_draft.template.required_sections)


def test_a_macro_expands_in_the_reports_language(ko_draft, en_draft, radiologist):
    ko = report_save(
        report_id=ko_draft.pk,
        user=radiologist,
        revision=ko_draft.revision,
        changes={"impression": ".nml"},
    )
    en = report_save(
        report_id=en_draft.pk,
        user=radiologist,
        revision=en_draft.revision,
        changes={"impression": ".nml"},
    )
    assert ko.impression == "급성 두개 내 이상 소견 없음."
    assert en.impression == "No acute intracranial abnormality."


def test_the_reader_may_change_the_drafts_language(ko_draft, radiologist):
    saved = report_save(
        report_id=ko_draft.pk,
        user=radiologist,
        revision=ko_draft.revision,
        changes={"language": "zh-hans"},
    )
    assert saved.language == "zh-hans"
    assert saved.revision == ko_draft.revision + 1
    # From then on its macros are the Chinese ones.
    saved = report_save(
        report_id=saved.pk,
        user=radiologist,
        revision=saved.revision,
        changes={"impression": ".corr"},
    )
    assert saved.impression == "建议结合临床。"


def test_an_unknown_language_is_refused(ko_draft, radiologist):
    with pytest.raises(DomainError) as refused:
        report_save(
            report_id=ko_draft.pk,
            user=radiologist,
            revision=ko_draft.revision,
            changes={"language": "fr"},
        )
    assert refused.value.code == "invalid_language"
    ko_draft.refresh_from_db()
    assert ko_draft.language == "ko" and ko_draft.revision == 1
