"""Peer review, RADPEER style: a share of signed reports (per hospital and modality) and every
report its reader asks for go to a second radiologist, never the reader; a 3 tells the reader,
whose addendum reaches the hospital by the normal delivery; scores stay between managers and
the reader; managers read discrepancy rates with confidence intervals."""

from __future__ import annotations

import pytest
from django.core import mail

from readingcenter.audit.models import AuditEvent
from readingcenter.delivery.models import Delivery, DeliveryEndpoint
from readingcenter.quality.models import PeerReview, PeerReviewPolicy
from readingcenter.reports.services import report_sign
from tests.conftest import _user, api_as, grant
from tests.reports.conftest import PASSWORD, complete

pytestmark = pytest.mark.django_db(transaction=True)


def _final(draft, radiologist):
    complete(draft, radiologist)
    return report_sign(report_id=draft.pk, user=radiologist, password=PASSWORD, kind="final")


def test_a_drawn_report_is_scored_by_a_colleague_and_a_3_reaches_the_hospital_as_an_addendum(
    draft, radiologist, hospital_a, hospital_b, manager
):
    PeerReviewPolicy.objects.create(hospital=hospital_a, modality="CT", share=1.0)
    DeliveryEndpoint.objects.create(hospital=hospital_a, channel="hl7", name="engine",
                                    host="127.0.0.1", port=9)  # fmt: skip
    radiologist.email = "reader@center.example"
    radiologist.save()
    final = _final(draft, radiologist)
    review = PeerReview.objects.get(report=final)
    assert (review.reason, review.first_reader, review.score) == ("random", radiologist, "")

    colleague = _user("dr.peer", "radiologist")
    grant(colleague, hospital_a)
    outsider = _user("dr.far", "radiologist")
    grant(outsider, hospital_b)
    # The reader never scores his own report; a reader of another hospital cannot either.
    for who in (radiologist, outsider):
        refused = api_as(who).post(f"/api/v1/peer-reviews/{review.pk}/score/",
                                   {"score": "1"}, format="json")  # fmt: skip
        assert refused.status_code == 404
    queue = api_as(colleague).get("/api/v1/peer-reviews/?state=pending").json()["results"]
    assert [r["id"] for r in queue] == [review.pk]
    no_comment = api_as(colleague).post(f"/api/v1/peer-reviews/{review.pk}/score/",
                                        {"score": "3b"}, format="json")  # fmt: skip
    assert no_comment.status_code == 400 and no_comment.json()["code"] == "comment_required"
    scored = api_as(colleague).post(
        f"/api/v1/peer-reviews/{review.pk}/score/",
        {"score": "3b", "comment": "4 mm left frontal contusion not reported."}, format="json",
    )  # fmt: skip
    assert scored.status_code == 200 and scored.json()["is_discrepancy"] is True
    again = api_as(manager).post(f"/api/v1/peer-reviews/{review.pk}/score/",
                                 {"score": "1"}, format="json")  # fmt: skip
    assert again.status_code == 404  # a manager is no radiologist reviewer
    # The reader is told, by e-mail and on the record.
    assert [m.to for m in mail.outbox] == [["reader@center.example"]]
    assert "3b" in mail.outbox[0].subject and "contusion" in mail.outbox[0].body
    assert AuditEvent.objects.filter(action="peer_review.discrepancy").exists()
    # Scores are the reader's and the managers': not another radiologist's.
    assert api_as(radiologist).get("/api/v1/peer-reviews/").json()["count"] == 1
    assert api_as(outsider).get("/api/v1/peer-reviews/").json()["count"] == 0
    assert api_as(manager).get("/api/v1/peer-reviews/").json()["count"] == 1
    # The reader's addendum goes to the hospital as the report did.
    addendum = api_as(radiologist).post(
        f"/api/v1/reports/{final.pk}/addenda/",
        {"password": PASSWORD, "text": "Also a 4 mm left frontal contusion."}, format="json",
    )  # fmt: skip
    assert addendum.status_code == 201
    assert Delivery.objects.filter(report_id=addendum.json()["id"]).exists()


def test_a_reader_asks_for_a_review_and_managers_read_the_rates(
    draft, radiologist, hospital_a, manager
):
    final = _final(draft, radiologist)
    assert not PeerReview.objects.exists()  # no policy: nothing drawn
    asked = api_as(radiologist).post("/api/v1/peer-reviews/request/", {"report": final.pk},
                                     format="json")  # fmt: skip
    assert asked.status_code == 201 and asked.json()["reason"] == "requested"
    colleague = _user("dr.peer", "radiologist")
    grant(colleague, hospital_a)
    not_his = api_as(colleague).post("/api/v1/peer-reviews/request/", {"report": final.pk},
                                     format="json")  # fmt: skip
    assert not_his.status_code == 404
    api_as(colleague).post(f"/api/v1/peer-reviews/{asked.json()['id']}/score/",
                           {"score": "1"}, format="json")  # fmt: skip
    rates = api_as(manager).get("/api/v1/analytics/peer-review/?by=reader").json()
    assert rates == [{"key": radiologist.username, "scored": 1, "discrepancies": 0,
                      "rate": 0.0, "ci95": rates[0]["ci95"]}]  # fmt: skip
    assert rates[0]["ci95"][0] == 0.0 and 0.5 < rates[0]["ci95"][1] < 1.0
    assert api_as(colleague).get("/api/v1/analytics/peer-review/").status_code == 403


def test_the_peer_review_page_scores_and_shows_managers_the_rates(
    draft, radiologist, hospital_a, manager
):
    from django.test import Client

    PeerReviewPolicy.objects.create(hospital=hospital_a, modality="", share=1.0)
    final = _final(draft, radiologist)
    review = PeerReview.objects.get(report=final)
    colleague = _user("dr.peer", "radiologist")
    grant(colleague, hospital_a)
    page = Client()
    page.force_login(colleague)
    assert f'data-review="{review.pk}"' in page.get("/peer-review/").content.decode()
    page.post(f"/peer-review/{review.pk}/score/", {"score": "2a", "comment": "Small miss."})
    review.refresh_from_db()
    assert (review.score, review.reviewer) == ("2a", colleague)
    boss = Client()
    boss.force_login(manager)
    html = boss.get("/peer-review/").content.decode()
    assert "Discrepancy rates" in html and radiologist.username in html
