"""The one-reader rule under contention: real threads, real PostgreSQL connections."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from readingcenter.accounts.models import Role, User
from readingcenter.errors import Conflict
from readingcenter.worklist import services
from readingcenter.worklist.models import Case, CaseState
from tests.conftest import grant
from tests.factories import make_case

pytestmark = pytest.mark.django_db(transaction=True)


def _readers(n, hospital):
    readers = []
    for i in range(n):
        user = User.objects.create_user(username=f"reader{i}", password="x", role=Role.RADIOLOGIST)
        grant(user, hospital)
        readers.append(user)
    return readers


def _race(readers, work):
    barrier = threading.Barrier(len(readers))
    results, errors = [], []

    def run(user):
        try:
            barrier.wait()
            results.append((user.pk, work(user)))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(u,)) for u in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors


def test_fifty_radiologists_claiming_the_same_cases_never_make_two_owners(hospital_a):
    readers = _readers(50, hospital_a)
    for _round in range(3):
        cases = [make_case(hospital_a) for _ in range(3)]

        def claim_all(user, cases=cases):
            won = []
            for case in cases:
                try:
                    services.case_claim(case_id=case.pk, user=user)
                    won.append(case.pk)
                except Conflict as exc:
                    assert exc.code == "already_claimed"
                    assert "Already claimed by" in exc.message
            return won

        results, errors = _race(readers, claim_all)
        assert errors == []
        wins = Counter(pk for _user, won in results for pk in won)
        # Every case won exactly once, and the row agrees with the winner.
        assert wins == {case.pk: 1 for case in cases}
        for case in cases:
            case.refresh_from_db()
            winner = next(user for user, won in results if case.pk in won)
            assert case.state == CaseState.CLAIMED and case.claimed_by_id == winner


def test_next_case_under_contention_hands_out_distinct_cases(hospital_a):
    readers = _readers(20, hospital_a)
    for _ in range(12):
        make_case(hospital_a)

    results, errors = _race(readers, lambda user: services.case_next(user=user))
    assert errors == []
    handed = [case.pk for _user, case in results if case is not None]
    # Twelve cases, twenty readers: twelve get one each, nobody gets a case twice.
    assert len(handed) == 12 and len(set(handed)) == 12
    assert [case for _user, case in results].count(None) == 8
    owners = dict(Case.objects.values_list("pk", "claimed_by_id"))
    for user_pk, case in results:
        if case is not None:
            assert owners[case.pk] == user_pk


def test_it_refuses_a_second_claim_and_names_the_holder(hospital_a, radiologist):
    other = User.objects.create_user(
        username="dr.two",
        password="x",
        role=Role.RADIOLOGIST,
        first_name="Ji-woo",
        last_name="Park",
    )
    grant(other, hospital_a)
    case = make_case(hospital_a)
    services.case_claim(case_id=case.pk, user=other)
    with pytest.raises(Conflict) as refused:
        services.case_claim(case_id=case.pk, user=radiologist)
    assert refused.value.code == "already_claimed"
    assert "Ji-woo Park" in refused.value.message
    # The holder pressing again is not an error.
    assert services.case_claim(case_id=case.pk, user=other).claimed_by == other
