"""/studies/ is a board of the newest studies per status, with search, filters and paging, not
one page of every study."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.factories import make_study

pytestmark = pytest.mark.django_db


def _page(user, query="") -> str:
    client = Client()
    client.force_login(user)
    return client.get(f"/studies/{query}").content.decode()


def _shown(html: str) -> set[int]:
    return {int(pk) for pk in re.findall(r'data-study="(\d+)"', html)}


def test_the_board_shows_the_newest_of_each_status_and_links_to_all(manager, hospital_a):
    complete = [make_study(hospital_a) for _ in range(25)]
    html = _page(manager)
    assert 'data-count="complete">25<' in html
    assert len(_shown(html)) == 20
    assert "all 25, page by page" in html
    one = _page(manager, "?status=complete")
    assert _shown(one) == {s.pk for s in complete}


def test_one_status_is_paged(manager, hospital_a):
    studies = [make_study(hospital_a) for _ in range(55)]
    first, second = _page(manager, "?status=complete"), _page(manager, "?status=complete&page=2")
    assert len(_shown(first)) == 50 and len(_shown(second)) == 5
    assert _shown(first) | _shown(second) == {s.pk for s in studies}
    assert "page 1 of 2" in first and "?status=complete&page=2" in first


def test_it_searches_by_accession_patient_id_or_name(manager, hospital_a):
    kim = make_study(hospital_a, accession_number="SN-4711", patient_id="P-1",
                     patient_name="Kim^Jisoo=김^지수")  # fmt: skip
    lee = make_study(hospital_a, accession_number="SN-4712", patient_id="P-2",
                     patient_name="Lee^Minho")  # fmt: skip
    assert _shown(_page(manager, "?q=sn-4711")) == {kim.pk}
    assert _shown(_page(manager, "?q=P-2")) == {lee.pk}
    assert _shown(_page(manager, "?q=김")) == {kim.pk}


def test_it_filters_by_hospital_modality_and_priority(manager, hospital_a, hospital_b):
    ct_a = make_study(hospital_a, modalities=["CT"], priority="stat")
    mr_a = make_study(hospital_a, modalities=["MR"])
    ct_b = make_study(hospital_b, modalities=["CT"])
    assert _shown(_page(manager, "?hospital=alpha")) == {ct_a.pk, mr_a.pk}
    assert _shown(_page(manager, "?modality=CT")) == {ct_a.pk, ct_b.pk}
    assert _shown(_page(manager, "?priority=stat")) == {ct_a.pk}


def test_a_hospital_searches_only_its_own_and_has_no_quarantine(hospital_user_a, hospital_a,
                                                                  hospital_b):  # fmt: skip
    mine = make_study(hospital_a, accession_number="X-1")
    make_study(hospital_b, accession_number="X-1")
    html = _page(hospital_user_a, "?q=X-1")
    assert _shown(html) == {mine.pk}
    assert "Quarantined" not in html and 'name="hospital"' not in html
