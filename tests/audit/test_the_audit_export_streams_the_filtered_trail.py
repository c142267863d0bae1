"""The CSV export: the filtered rows only, every column, times in the manager's zone, sent
as a stream read with a server-side cursor in chunks (never the whole trail in memory)."""

from __future__ import annotations

import csv
import io
import json
from unittest import mock

from django.db import connections
from django.http import StreamingHttpResponse
from django.test import Client

from readingcenter.audit.models import AuditEvent
from readingcenter.audit.services import audit_record


def test_the_export_holds_the_filtered_rows_with_every_column(db, manager, radiologist, hospital_a):
    manager.time_zone = "Asia/Seoul"
    manager.save(update_fields=["time_zone"])
    wanted = [
        audit_record(
            actor=radiologist,
            action="report.sign",
            hospital=hospital_a,
            patient_id="P-7",
            target_type="reports.report",
            target_id=i,
            detail={"kind": "final", "note": "한글"},
        )
        for i in range(1, 4)
    ]
    audit_record(actor=radiologist, action="case.claim", patient_id="P-7")
    client = Client()
    client.force_login(manager)

    response = client.get("/audit/export.csv?action=report.sign&patient_id=P-7")

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == [e.pk for e in reversed(wanted)]
    first = rows[-1]
    assert (first["actor"], first["action"], first["patient_id"]) == (
        "dr.who",
        "report.sign",
        "P-7",
    )
    assert first["hospital_id"] == str(hospital_a.pk) and first["target_id"] == "1"
    assert json.loads(first["detail"]) == {"kind": "final", "note": "한글"}
    assert first["at"].endswith("+09:00")  # Seoul
    assert AuditEvent.objects.filter(actor=manager, action="audit.export").count() == 1


def test_a_large_export_is_read_in_chunks_through_a_cursor(db, manager):
    AuditEvent.objects.bulk_create(
        [AuditEvent(actor_label="bulk", action="bulk.read", target_id=str(i)) for i in range(4500)]
    )
    client = Client()
    client.force_login(manager)
    response = client.get("/audit/export.csv?user=bulk")

    real = connections["default"].chunked_cursor
    with mock.patch.object(connections["default"], "chunked_cursor", wraps=real) as spy:
        lines = sum(1 for _ in response.streaming_content)

    assert lines == 4501  # the header and every row
    # Django's server-side (named) cursor on PostgreSQL: rows come in chunks, not one list.
    assert spy.call_count == 1
