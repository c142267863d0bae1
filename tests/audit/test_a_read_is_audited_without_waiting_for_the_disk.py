"""A read's audit row commits without waiting for the disk flush; nothing else does.

The flush (fdatasync) costs about 4 ms on the development machine, more than the rest of a
worklist page's SQL, and a read's row needs only to reach the write-ahead log in order
(``audit_read_record``). These tests hold the edges: the row is committed and seen by another
connection, the relaxed commit is for that one transaction (the connection the next write gets
is durable again), the server really skips the flush (PostgreSQL's own count of WAL syncs), and
inside a write's transaction the row joins it and changes nothing of how it commits.
Transactional tests: the commit itself is what is tested.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from readingcenter.audit.models import AuditEvent
from readingcenter.audit.services import audit_read_record, audit_record
from tests.conftest import api_as

pytestmark = pytest.mark.django_db(transaction=True)


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def _seen_by_another_connection(event_id: int) -> bool:
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"],
        dbname=settings["NAME"], password=settings["PASSWORD"] or None,
    ) as other:  # fmt: skip
        row = other.execute("SELECT 1 FROM audit_auditevent WHERE id = %s", [event_id])
        return row.fetchone() is not None


def test_a_read_commits_its_row_with_a_relaxed_flush_for_that_transaction_only(manager):
    assert _synchronous_commit() == "on"
    with CaptureQueriesContext(connection) as queries:
        event = audit_read_record(actor=manager, action="case.list", target_type="case")
    # One round trip: the setting and the insert in one query string (one implicit transaction).
    [sql] = [q["sql"] for q in queries.captured_queries]
    assert sql.startswith('SET LOCAL synchronous_commit TO OFF; INSERT INTO "audit_auditevent"')
    assert AuditEvent.objects.get(pk=event.pk).action == "case.list"
    assert _seen_by_another_connection(event.pk), "committed, not left in an open transaction"
    # SET LOCAL ended with the transaction: what the connection does next commits durably.
    assert not connection.in_atomic_block
    assert _synchronous_commit() == "on"


def _wal_syncs() -> int:
    """PostgreSQL's count of WAL flushes to disk, every process's (pg_stat_wal.wal_sync)."""
    with connection.cursor() as cursor:
        # A backend's counts reach the shared statistics a moment after its transaction.
        cursor.execute("SELECT pg_stat_force_next_flush()")
        cursor.execute("SELECT 1")
        time.sleep(0.3)
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT wal_sync FROM pg_stat_wal")
        return cursor.fetchone()[0]


def test_the_server_skips_the_flush_for_reads_and_keeps_it_for_writes(manager):
    """Without this, a SET LOCAL that did not take (outside a transaction it only warns) would
    pass every other test here. Other processes' flushes (the WAL writer's, every 0.2 s) can
    only add to the count, so the reads' bound is loose and the writes' exact."""
    before = _wal_syncs()
    for _ in range(50):
        audit_read_record(actor=manager, action="case.list", target_type="case")
    reads = _wal_syncs() - before
    before = _wal_syncs()
    for _ in range(50):
        audit_record(actor=manager, action="case.claim", target_type="case")
    writes = _wal_syncs() - before
    assert reads < 25, f"{reads} WAL flushes for 50 served reads: their commits waited"
    assert writes >= 50, f"{writes} WAL flushes for 50 writes: a write's commit did not wait"


def test_with_server_side_binding_the_row_goes_in_an_explicit_transaction_as_relaxed(
    manager, monkeypatch
):
    """DATABASE_URL may ask for ``?server_side_binding=true``: a prepared statement holds one
    command, so the setting and the insert go in a transaction of their own, still without
    waiting for the flush. (The cursors here still bind on the client: what is checked is the
    path audit_read_record takes for that setting, and how it commits.)"""
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "server_side_binding", True)
    with CaptureQueriesContext(connection) as queries:
        event = audit_read_record(actor=manager, action="case.list", target_type="case")
    sql = [q["sql"] for q in queries.captured_queries]
    assert sql[0] == "BEGIN" and sql[1] == "SET LOCAL synchronous_commit TO OFF"
    assert sql[2].startswith('INSERT INTO "audit_auditevent"') and sql[-1] == "COMMIT"
    assert _seen_by_another_connection(event.pk)
    assert _synchronous_commit() == "on"
    before = _wal_syncs()
    for _ in range(50):
        audit_read_record(actor=manager, action="case.list", target_type="case")
    reads = _wal_syncs() - before
    assert reads < 25, f"{reads} WAL flushes for 50 served reads: their commits waited"


def test_inside_a_writes_transaction_the_read_row_joins_it_and_changes_nothing(manager):
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            event = audit_read_record(actor=manager, action="case.read", target_type="case")
        assert not any("synchronous_commit" in q["sql"] for q in queries.captured_queries)
        assert _synchronous_commit() == "on"
        assert not _seen_by_another_connection(event.pk), "commits with the transaction"
        transaction.set_rollback(True)
    assert not AuditEvent.objects.filter(pk=event.pk).exists()


def test_a_worklist_page_leaves_its_row_through_the_relaxed_commit(radiologist):
    with CaptureQueriesContext(connection) as queries:
        response = api_as(radiologist).get("/api/v1/worklist/")
    assert response.status_code == 200
    assert any(
        q["sql"].startswith("SET LOCAL synchronous_commit TO OFF;")
        for q in queries.captured_queries
    )
    event = AuditEvent.objects.get(action="case.list", actor=radiologist)
    assert event.detail["results"] == 0
    assert _seen_by_another_connection(event.pk)
