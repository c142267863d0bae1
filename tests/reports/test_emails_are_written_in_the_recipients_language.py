"""An e-mail is written in its recipient's language (his own choice, else his hospital's report
language), whatever language the person or job that caused it works in; and an API client's
error reads in its user's language with the same stable code.

NEEDS THE COMPILED CATALOGUES (locale/*/LC_MESSAGES/django.mo, `make messages`): without them
every language reads English and ``catalogues`` fails saying so.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import translation

from readingcenter.quality.models import PeerReview, PeerReviewPolicy
from readingcenter.quality.services import peer_review_score
from readingcenter.reports.services import report_sign
from tests.conftest import _user, api_as, grant
from tests.reports.conftest import PASSWORD, complete

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def catalogues():
    """The Korean catalogue is compiled: else these tests would only prove the fallback."""
    with translation.override("ko"):
        if translation.gettext("Score saved.") == "Score saved.":
            pytest.fail("The catalogues are not compiled: run `make messages` first.")


def test_a_korean_reader_is_told_of_a_discrepancy_in_korean(
    catalogues, draft, radiologist, hospital_a
):
    PeerReviewPolicy.objects.create(hospital=hospital_a, modality="CT", share=1.0)
    radiologist.email = "reader@center.example"
    radiologist.language = "ko"
    radiologist.save()
    complete(draft, radiologist)
    final = report_sign(report_id=draft.pk, user=radiologist, password=PASSWORD, kind="final")
    review = PeerReview.objects.get(report=final)
    colleague = _user("dr.peer", "radiologist")
    grant(colleague, hospital_a)
    # The colleague works in English; the reader reads Korean.
    with translation.override("en"):
        peer_review_score(review_id=review.pk, user=colleague, score="3b",
                          comment="4 mm left frontal contusion not reported.")  # fmt: skip
    [message] = mail.outbox
    assert message.to == ["reader@center.example"]
    assert message.subject == f"동료 평가: 보고서 {final.pk}에 점수 3b"
    assert f"동료가 보고서 {final.pk}을(를) 3b: 대부분 발견해야 함" in message.body
    assert "4 mm left frontal contusion not reported." in message.body  # his words, as written
    assert "Peer review" not in message.subject and "colleague" not in message.body


def test_an_english_reader_still_reads_english(catalogues, draft, radiologist, hospital_a):
    PeerReviewPolicy.objects.create(hospital=hospital_a, modality="CT", share=1.0)
    radiologist.email = "reader@center.example"
    radiologist.language = "en"
    radiologist.save()
    complete(draft, radiologist)
    final = report_sign(report_id=draft.pk, user=radiologist, password=PASSWORD, kind="final")
    colleague = _user("dr.peer", "radiologist")
    grant(colleague, hospital_a)
    with translation.override("ko"):
        peer_review_score(review_id=PeerReview.objects.get(report=final).pk, user=colleague,
                          score="3a", comment="Missed.")  # fmt: skip
    [message] = mail.outbox
    assert message.subject == f"Peer review: score 3a on your report {final.pk}"


def test_an_api_error_reads_in_the_users_language_with_the_same_code(
    catalogues, draft, radiologist
):
    radiologist.language = "ko"
    radiologist.save()
    answer = api_as(radiologist).post(
        f"/api/v1/reports/{draft.pk}/sign/", {"password": "wrong", "kind": "final"}, format="json"
    )
    assert answer.status_code == 403
    body = answer.json()
    assert body["code"] == "reauthentication_failed"
    assert body["detail"] == (
        "서명하려면 비밀번호를 다시 입력해야 하는데, 일치하지 않았습니다. 서명되지 않았습니다."
    )
