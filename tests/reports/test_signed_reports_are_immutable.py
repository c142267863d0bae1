from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from readingcenter.reports.models import Report
from readingcenter.reports.services import report_sign
from tests.conftest import api_as
from tests.reports.conftest import PASSWORD, complete


@pytest.fixture
def signed(draft, radiologist):
    complete(draft, radiologist)
    return report_sign(report_id=draft.pk, user=radiologist, password=PASSWORD, kind="final")


def test_the_api_refuses_to_edit_a_signed_report(signed, radiologist):
    response = api_as(radiologist).patch(
        f"/api/v1/reports/{signed.pk}/",
        {"revision": signed.revision, "impression": "Changed my mind."},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] in ("report_signed", "case_signed")


def test_the_database_refuses_an_update_of_a_signed_row(signed):
    sql = "UPDATE reports_report SET impression = 'rewritten' WHERE id = %s"
    with (
        pytest.raises(DatabaseError, match="signed report is immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, [signed.pk])
    assert Report.objects.get(pk=signed.pk).hash_matches()


def test_the_database_refuses_to_delete_a_signed_row(signed):
    with (
        pytest.raises(DatabaseError, match="signed report is immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM reports_report WHERE id = %s", [signed.pk])


def test_the_orm_cannot_save_over_a_signed_row_either(signed):
    signed.impression = "Quietly changed."
    with pytest.raises(DatabaseError), transaction.atomic():
        signed.save()
    signed.refresh_from_db()
    assert signed.impression == "Chronic small vessel ischemic change."


def test_a_changed_text_no_longer_matches_its_hash(signed):
    signed.findings += " (tampered)"
    assert not signed.hash_matches()
