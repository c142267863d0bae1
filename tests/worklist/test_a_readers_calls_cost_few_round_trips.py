"""A radiologist's two busiest calls, counted in statements sent to PostgreSQL.

Each statement is a round trip, and on a busy database server a round trip is a wait: the
worklist page is four (the token, the reader's hospitals, the page, its audit row in one
round trip of its own), and "next case" claims in a transaction as short as the bare SQL's
(BEGIN, the locked pick, the claim with its audit row in one statement, COMMIT). What the
counts buy must not cost what the calls mean: the claim's audit row is written whole, and the
hospitals are those of the moment of each call. Transactional tests: outside a test's
transaction, as a server runs.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from readingcenter.accounts.authentication import token_for_key
from readingcenter.accounts.models import Privilege, RadiologistProfile
from readingcenter.accounts.selectors import privileged_hospital_ids
from readingcenter.accounts.services import api_token_create
from readingcenter.audit.models import AuditEvent
from readingcenter.worklist.models import Case, CaseState
from tests.conftest import api_as
from tests.factories import make_case

pytestmark = pytest.mark.django_db(transaction=True)


def _statements(call) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    return response, [q["sql"] for q in queries.captured_queries]


def test_a_worklist_page_is_four_statements_its_audit_row_one_of_them(
    radiologist, hospital_a, hospital_b
):
    make_case(hospital_a)
    make_case(hospital_b)
    client = api_as(radiologist)
    client.get("/api/v1/worklist/")  # the token's first use writes its "last used" (once a minute)
    response, sql = _statements(lambda: client.get("/api/v1/worklist/"))
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert len(sql) == 4, sql
    token, hospitals, page, audit = sql
    assert '"accounts_apitoken"' in token and '"accounts_privilege"' in hospitals
    assert '"worklist_case"' in page
    assert audit.startswith("SET LOCAL synchronous_commit TO OFF; INSERT INTO")


def test_a_privilege_revoked_between_two_calls_counts_at_the_next_call(
    radiologist, hospital_a, hospital_b
):
    alpha, beta = make_case(hospital_a), make_case(hospital_b)
    client = api_as(radiologist)
    first = {row["id"] for row in client.get("/api/v1/worklist/").json()["results"]}
    assert first == {alpha.pk, beta.pk}
    Privilege.objects.filter(radiologist=radiologist, hospital=hospital_a).update(
        revoked_at=timezone.now()
    )
    second = {row["id"] for row in client.get("/api/v1/worklist/").json()["results"]}
    assert second == {beta.pk}, "Alpha's case shown after the privilege was revoked"
    # And "next case" never hands him Alpha's case either.
    response = client.post("/api/v1/worklist/next/")
    assert response.status_code == 200
    assert response.json()["id"] == beta.pk


def test_next_case_claims_in_one_statement_with_its_audit_row(radiologist, hospital_a):
    case = make_case(hospital_a)
    client = api_as(radiologist)
    client.get("/api/v1/worklist/")  # the token's first use writes its "last used" (once a minute)
    response, sql = _statements(lambda: client.post("/api/v1/worklist/next/"))
    assert response.status_code == 200
    assert response.json()["id"] == case.pk
    begin = sql.index("BEGIN")
    locked, claim, commit = sql[begin + 1 :]
    assert "FOR UPDATE" in locked and "SKIP LOCKED" in locked
    assert claim.startswith('WITH event AS (INSERT INTO "audit_auditevent"')
    assert 'UPDATE "worklist_case"' in claim
    assert commit == "COMMIT"
    case.refresh_from_db()
    assert (case.state, case.claimed_by_id) == (CaseState.CLAIMED, radiologist.pk)
    assert case.claimed_at is not None and case.last_activity_at == case.claimed_at
    event = AuditEvent.objects.get(action="case.claim", target_id=str(case.pk))
    assert (event.actor_id, event.actor_label) == (radiologist.pk, radiologist.username)
    assert event.hospital_id == hospital_a.pk
    assert event.patient_id == case.study.patient_id
    assert event.detail == {"via": "next"}


def test_next_case_asks_for_his_own_claims_by_their_id_alone(radiologist, hospital_a):
    """Most presses find no other claim of his, so that question is the id alone (the row
    with its study, hospital and reader costs the ORM three times as much to build); the row
    is read only for a claim he holds, and handed back without a new claim."""
    client = api_as(radiologist)
    client.get("/api/v1/worklist/")  # the token's first use writes its "last used" (once a minute)
    first = make_case(hospital_a, completed_minutes_ago=20)
    second = make_case(hospital_a, completed_minutes_ago=10)
    response, sql = _statements(lambda: client.post("/api/v1/worklist/next/"))
    assert response.json()["id"] == first.pk
    mine = [q for q in sql if '"worklist_case"."claimed_by_id" =' in q and "FOR UPDATE" not in q]
    assert len(mine) == 1, mine
    assert mine[0].startswith('SELECT "worklist_case"."id" AS "pk" FROM "worklist_case" WHERE')

    # Holding it, he gets it back (its row read whole) and nothing else is claimed.
    response, sql = _statements(lambda: client.post("/api/v1/worklist/next/"))
    assert response.json()["id"] == first.pk
    assert response.json()["study"]["patient_id"] == first.study.patient_id
    assert "BEGIN" not in sql
    assert Case.objects.get(pk=second.pk).state == CaseState.UNREAD
    # Leaving it, the next case is claimed.
    response = client.post("/api/v1/worklist/next/", {"after": first.pk}, format="json")
    assert response.json()["id"] == second.pk


def test_next_case_reads_what_the_reader_reads_before_the_lock(radiologist, hospital_a):
    """The profile, read before the lock; a CT-only reader is not handed an MR."""
    RadiologistProfile.objects.create(user=radiologist, modalities=["CT"])
    mr = make_case(hospital_a, modalities=["MR"])
    ct = make_case(hospital_a, modalities=["CT"])
    response = api_as(radiologist).post("/api/v1/worklist/next/")
    assert response.status_code == 200
    assert response.json()["id"] == ct.pk
    assert Case.objects.get(pk=mr.pk).state == CaseState.UNREAD


def test_a_token_read_for_a_websocket_keeps_no_hospitals(radiologist, hospital_a, hospital_b):
    """ws_auth reads the token once for a socket that lives for hours and re-reads the
    reader's privileges every 30 s: nothing read with the token may stand in for them."""
    _, key = api_token_create(radiologist, name="ws", scopes=["reading"], days=1, actor="system")
    user = token_for_key(key).user
    assert privileged_hospital_ids(user) == {hospital_a.pk, hospital_b.pk}
    Privilege.objects.filter(radiologist=radiologist, hospital=hospital_a).update(
        revoked_at=timezone.now()
    )
    assert privileged_hospital_ids(user) == {hospital_b.pk}
