"""Append-only, whichever way the application tries: an UPDATE and a DELETE through the ORM
(the queryset and the instance) and through raw SQL all fail in the database, and the row is
unchanged afterwards. (test_append_only.py covers the ORM update and the raw delete.)"""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from readingcenter.audit.models import AuditEvent
from readingcenter.audit.services import audit_record


@pytest.fixture
def event(db, manager):
    return audit_record(actor=manager, action="study.read", patient_id="P1")


def _unchanged(event) -> None:
    row = AuditEvent.objects.get(pk=event.pk)
    assert (row.action, row.patient_id) == ("study.read", "P1")


def test_an_orm_delete_of_the_row_fails(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.get(pk=event.pk).delete()
    _unchanged(event)


def test_an_orm_queryset_delete_fails(event):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    _unchanged(event)


def test_an_orm_save_over_the_row_fails(event):
    event.patient_id = "someone-else"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        event.save()
    _unchanged(event)


def test_a_raw_sql_update_fails(event):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE audit_auditevent SET action = 'nothing' WHERE id = %s", [event.pk])
    _unchanged(event)


def test_a_raw_sql_delete_of_every_row_fails(event):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditevent")
    _unchanged(event)
