from __future__ import annotations

from readingcenter.reports.models import Report
from readingcenter.reports.services import report_sign
from tests.conftest import api_as
from tests.reports.conftest import PASSWORD, complete


def _final(draft, radiologist):
    complete(draft, radiologist)
    return report_sign(report_id=draft.pk, user=radiologist, password=PASSWORD, kind="final")


def test_an_addendum_is_a_new_signed_version_and_the_original_stays_as_it_was(
    draft, radiologist, hospital_user_a
):
    final = _final(draft, radiologist)
    before = (final.content_sha256, final.impression)
    response = api_as(radiologist).post(
        f"/api/v1/reports/{final.pk}/addenda/",
        {"password": PASSWORD, "text": "Also a 4 mm left frontal contusion."},
        format="json",
    )
    assert response.status_code == 201, response.content
    addendum = response.json()
    assert (addendum["kind"], addendum["status"], addendum["version_number"]) == (
        "addendum",
        "amended",
        2,
    )
    assert addendum["parent"] == final.pk and addendum["state"] == "signed"
    final.refresh_from_db()
    assert (final.content_sha256, final.impression) == before and final.hash_matches()
    # The hospital sees it flagged as amended.
    seen = api_as(hospital_user_a).get(f"/api/v1/reports/{addendum['id']}/").json()
    assert seen["status"] == "amended" and seen["addendum_text"].startswith("Also a 4 mm")


def test_an_addendum_needs_the_password_too(draft, radiologist):
    final = _final(draft, radiologist)
    response = api_as(radiologist).post(
        f"/api/v1/reports/{final.pk}/addenda/", {"password": "nope", "text": "x"}, format="json"
    )
    assert response.status_code == 403
    assert Report.objects.filter(study=final.study).count() == 1


def test_a_draft_cannot_be_amended(draft, radiologist):
    response = api_as(radiologist).post(
        f"/api/v1/reports/{draft.pk}/addenda/", {"password": PASSWORD, "text": "x"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "not_final"


def test_a_hospital_user_cannot_write_an_addendum(draft, radiologist, hospital_user_a):
    final = _final(draft, radiologist)
    response = api_as(hospital_user_a).post(
        f"/api/v1/reports/{final.pk}/addenda/",
        {"password": "correct-horse-battery", "text": "x"},
        format="json",
    )
    assert response.status_code == 404
