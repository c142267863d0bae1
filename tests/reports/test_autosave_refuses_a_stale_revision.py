from __future__ import annotations

from readingcenter.worklist.models import CaseState
from tests.conftest import api_as


def _patch(client, report, revision, **fields):
    return client.patch(
        f"/api/v1/reports/{report.pk}/", {"revision": revision, **fields}, format="json"
    )


def test_a_save_from_the_current_revision_applies_and_moves_the_revision(draft, radiologist):
    response = _patch(api_as(radiologist), draft, 1, impression="Normal.")
    assert response.status_code == 200, response.content
    assert response.json()["revision"] == 2 and response.json()["impression"] == "Normal."
    draft.case.refresh_from_db()
    assert draft.case.state == CaseState.IN_REPORT


def test_a_save_from_another_tab_with_an_old_revision_gets_409_and_changes_nothing(
    draft, radiologist
):
    client = api_as(radiologist)
    assert _patch(client, draft, 1, impression="From the first tab.").status_code == 200
    stale = _patch(client, draft, 1, impression="From a tab opened earlier.")
    assert stale.status_code == 409
    assert stale.json()["code"] == "stale_revision"
    draft.refresh_from_db()
    assert draft.impression == "From the first tab." and draft.revision == 2


def test_only_the_radiologist_holding_the_claim_may_edit(draft, hospital_a, hospital_b):
    from tests.conftest import _user, grant

    colleague = _user("dr.colleague", "radiologist")
    grant(colleague, hospital_a)
    response = _patch(api_as(colleague), draft, 1, impression="Not mine to write.")
    assert response.status_code == 403
    assert response.json()["code"] == "not_your_case"


def test_a_hospital_user_never_sees_a_draft(draft, hospital_user_a, hospital_user_b):
    assert api_as(hospital_user_a).get(f"/api/v1/reports/{draft.pk}/").status_code == 404
    assert _patch(api_as(hospital_user_a), draft, 1, impression="x").status_code == 404
    assert api_as(hospital_user_b).get(f"/api/v1/reports/{draft.pk}/").status_code == 404


def test_a_radiologist_without_privileges_at_the_hospital_gets_404(draft, radiologist_b_only):
    assert api_as(radiologist_b_only).get(f"/api/v1/reports/{draft.pk}/").status_code == 404


def test_a_bad_critical_category_is_refused_naming_the_field(draft, radiologist):
    critical = [{"finding": "tension pneumothorax", "category": "soon"}]
    response = _patch(api_as(radiologist), draft, 1, critical_findings=critical)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "critical_findings" in response.json()
