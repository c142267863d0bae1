"""The worklist's columns and order are resolved once per process (selectors' projections) and
every request filters its own copy: reading a worklist never leaves rows in the shared
projection, so the next request (another user, or the same one a moment later) reads the
database again and sees only what it may see."""

from __future__ import annotations

import pytest

from readingcenter.worklist import selectors
from readingcenter.worklist.services import case_next
from tests.factories import make_case

pytestmark = pytest.mark.django_db

PROJECTIONS = (
    selectors.case_rows_projection,
    selectors.case_values_projection,
    selectors.case_claim_projection,
)


def _held_rows() -> list:
    return [p.shared() for p in PROJECTIONS if p.shared()._result_cache is not None]


def test_a_managers_whole_worklist_read_twice_sees_a_new_case_and_fills_no_projection(
    hospital_a, hospital_b, manager
):
    first = make_case(hospital_a)
    # A manager with state=all and no filter is the one call that narrows nothing at all.
    rows = list(selectors.worklist_rows(user=manager, filters={"state": "all"}))
    cases = list(selectors.worklist(user=manager, filters={"state": "all"}))
    assert [r["id"] for r in rows] == [c.pk for c in cases] == [first.pk]
    assert _held_rows() == []

    second = make_case(hospital_b, priority="stat")
    rows = list(selectors.worklist_rows(user=manager, filters={"state": "all"}))
    assert [r["id"] for r in rows] == [second.pk, first.pk]
    assert _held_rows() == []


def test_each_reader_still_sees_only_his_hospitals_through_the_shared_projection(
    hospital_a, hospital_b, radiologist, radiologist_b_only
):
    alpha, beta = make_case(hospital_a), make_case(hospital_b)
    assert {r["id"] for r in selectors.worklist_rows(user=radiologist)} == {alpha.pk, beta.pk}
    assert [r["id"] for r in selectors.worklist_rows(user=radiologist_b_only)] == [beta.pk]
    assert [c.pk for c in selectors.worklist(user=radiologist_b_only)] == [beta.pk]
    assert _held_rows() == []


def test_next_case_claims_through_the_claim_projection_and_leaves_it_empty(
    hospital_a, hospital_b, radiologist, radiologist_b_only
):
    alpha, beta = make_case(hospital_a, priority="stat"), make_case(hospital_b)
    claimed = case_next(user=radiologist_b_only)
    assert claimed.pk == beta.pk and claimed.study.hospital_id == hospital_b.pk
    # His own claim comes back whole (study, hospital, reader) on the next press.
    again = case_next(user=radiologist_b_only)
    assert again.pk == beta.pk and again.claimed_by_id == radiologist_b_only.pk
    assert case_next(user=radiologist).pk == alpha.pk
    assert _held_rows() == []
