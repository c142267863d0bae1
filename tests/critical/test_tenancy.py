"""A hospital sees only its own critical results: another hospital's answers 404 in the API and
the pages, and cannot be acknowledged; radiologists see the hospitals where they are
privileged, managers all."""

from __future__ import annotations

import pytest
from django.test import Client

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.models import CriticalResult
from readingcenter.critical.selectors import critical_result_get, critical_results_list
from readingcenter.errors import NotFound
from tests.conftest import api_as
from tests.critical.conftest import BLEED, NODULE, sign_with_findings

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpha_and_beta(hospital_a, hospital_b, radiologist):
    _r, [alpha] = sign_with_findings(hospital_a, radiologist, [BLEED])
    _r, [beta] = sign_with_findings(hospital_b, radiologist, [NODULE])
    return alpha, beta


def _ids(user) -> set[int]:
    return set(critical_results_list(user=user).values_list("id", flat=True))


def test_each_role_lists_what_it_may_see(
    alpha_and_beta, hospital_user_a, hospital_user_b, radiologist, radiologist_b_only, manager,
    radiologist_unprivileged,
):  # fmt: skip
    alpha, beta = alpha_and_beta
    assert _ids(hospital_user_a) == {alpha.pk}
    assert _ids(hospital_user_b) == {beta.pk}
    assert _ids(radiologist) == {alpha.pk, beta.pk}
    assert _ids(radiologist_b_only) == {beta.pk}
    assert _ids(radiologist_unprivileged) == set()
    assert _ids(manager) == {alpha.pk, beta.pk}
    with pytest.raises(NotFound):
        critical_result_get(user=radiologist_b_only, id=alpha.pk)


def test_another_hospitals_result_is_not_found_in_the_api(alpha_and_beta, hospital_user_b):
    alpha, _beta = alpha_and_beta
    api = api_as(hospital_user_b)
    listed = api.get("/api/v1/critical-results/").json()
    assert [r["id"] for r in listed["results"]] == [alpha_and_beta[1].pk]
    detail = api.get(f"/api/v1/critical-results/{alpha.pk}/")
    assert detail.status_code == 404 and detail.json()["code"] == "not_found"
    missing = api.get("/api/v1/critical-results/999999/")
    assert missing.json() == detail.json()  # foreign and missing look the same
    ack = api.post(f"/api/v1/critical-results/{alpha.pk}/acknowledge/", {}, format="json")
    assert ack.status_code == 404
    assert CriticalResult.objects.get(pk=alpha.pk).state == "open"
    assert AuditEvent.objects.filter(
        action="critical_result.read", outcome="not_found", actor_label="beta.it"
    ).exists()


def test_another_hospitals_result_is_not_found_on_the_pages(alpha_and_beta, hospital_user_b):
    alpha, _beta = alpha_and_beta
    client = Client()
    client.force_login(hospital_user_b)
    assert client.get(f"/critical-results/{alpha.pk}/").status_code == 404
    assert client.post(f"/critical-results/{alpha.pk}/acknowledge/").status_code == 404
    page = client.get("/critical-results/")
    assert page.status_code == 200
    assert BLEED["finding"].encode() not in page.content
    assert NODULE["finding"].encode() in page.content
    assert CriticalResult.objects.get(pk=alpha.pk).state == "open"


def test_a_radiologist_without_privilege_there_gets_404_not_403(alpha_and_beta, radiologist_b_only):
    alpha, _beta = alpha_and_beta
    api = api_as(radiologist_b_only)
    assert api.get(f"/api/v1/critical-results/{alpha.pk}/").status_code == 404
    assert api.post(f"/api/v1/critical-results/{alpha.pk}/acknowledge/").status_code == 404
