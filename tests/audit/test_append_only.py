from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from readingcenter.audit.models import AuditEvent
from readingcenter.audit.services import audit_record


def test_the_database_refuses_to_update_an_audit_row(db, manager):
    event = audit_record(actor=manager, action="study.read")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="nothing.happened")
    event.refresh_from_db()
    assert event.action == "study.read"


def test_the_database_refuses_to_delete_an_audit_row(db, manager):
    event = audit_record(actor=manager, action="study.read")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_an_audit_row_records_who_what_when_and_from_where(rf, manager):
    request = rf.get("/api/v1/studies/1/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="pytest")
    event = audit_record(
        actor=manager,
        action="study.read",
        target_type="studies.study",
        target_id=1,
        request=request,
    )
    assert event.actor_label == "mgr"
    assert event.ip_address == "10.1.2.3"
    assert event.user_agent == "pytest"
    assert event.at.utcoffset().total_seconds() == 0
