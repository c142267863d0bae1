"""The monthly SLA report: promised against delivered per priority for the hospital's own
calendar month, every breach listed, as a PDF a hospital can file and a CSV it can load."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from readingcenter.analytics.selectors import sla_report, tat_breakdown
from readingcenter.audit.models import AuditEvent
from readingcenter.sla.models import SlaPolicy
from tests.analytics.conftest import MARCH, at, signed_case
from tests.delivery.pdf_text import pdf_text


@pytest.fixture
def march_for_alpha(hospital_a, radiologist):
    SlaPolicy.objects.create(hospital=hospital_a, priority="stat", target_minutes=60)
    signed_case(hospital_a, arrived=at(4, 1), tat=30, target=60, priority="stat",
                reader=radiologist, accession_number="ONTIME1")  # fmt: skip
    signed_case(hospital_a, arrived=at(4, 2), tat=95, target=60, priority="stat",
                reader=radiologist, accession_number="LATE-STAT")  # fmt: skip
    signed_case(hospital_a, arrived=at(6, 2), tat=300, target=240, priority="urgent",
                reader=radiologist, accession_number="LATE-URG")  # fmt: skip
    # 28 Feb 16:00 UTC is 1 March 01:00 in Seoul: Alpha's March, though February in UTC.
    signed_case(hospital_a, arrived=dt.datetime(2026, 2, 28, 15, 0, tzinfo=dt.UTC), tat=60,
                target=1440, reader=radiologist, accession_number="SEOUL-MARCH")  # fmt: skip
    # 31 March 15:30 UTC is 1 April 00:30 in Seoul: April's.
    signed_case(hospital_a, arrived=at(31, 15), tat=30, target=1440, reader=radiologist,
                accession_number="SEOUL-APRIL")  # fmt: skip


def test_promised_and_delivered_per_priority(manager, march_for_alpha):
    report = sla_report(user=manager, hospital_code="alpha", month="2026-03")
    rows = {r.priority: r for r in report.rows}
    assert [r.priority for r in report.rows] == ["stat", "urgent", "routine"]
    stat = rows["stat"]
    assert (stat.count, stat.met, stat.target_minutes, stat.compliance) == (2, 1, 60, 0.5)
    assert stat.p50 == pytest.approx(62.5) and stat.p90 == pytest.approx(88.5)
    assert (rows["routine"].count, rows["routine"].met) == (1, 1)
    assert (report.count, report.met) == (4, 2)
    assert [(b.accession_number, b.minutes_late) for b in report.breaches] == [
        ("LATE-STAT", 35.0),
        ("LATE-URG", 60.0),
    ]


def test_the_pdf_names_the_hospital_and_lists_the_breaches(client, manager, march_for_alpha):
    client.force_login(manager)
    response = client.get("/analytics/sla-report/alpha/2026-03.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    assert "Alpha Regional" in text
    assert "LATE-STAT" in text and "LATE-URG" in text and "ONTIME1" not in text
    assert "Breaches (2)" in text
    # Times in the hospital's zone: LATE-STAT was due 03:00 UTC, 12:00 in Seoul.
    assert "2026-03-04 12:00" in text


def test_the_csv_parses_into_the_summary_and_the_breaches(client, manager, march_for_alpha):
    client.force_login(manager)
    response = client.get("/analytics/sla-report/alpha/2026-03.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    summary_text, breaches_text = response.content.decode().split("\r\n\r\n")
    summary = list(csv.DictReader(io.StringIO(summary_text)))
    assert summary[0] == {"priority": "stat", "count": "2", "target_min": "60",
                          "clock_stops_at": "final", "counting": "24/7", "p50_min": "62.5",
                          "p90_min": "88.5", "met": "1", "compliance_pct": "50.0"}  # fmt: skip
    breaches = list(csv.DictReader(io.StringIO(breaches_text)))
    assert [b["accession_number"] for b in breaches] == ["LATE-STAT", "LATE-URG"]
    assert breaches[0]["due_at"] == "2026-03-04T12:00:00+09:00"


def test_reading_the_breaches_is_audited(client, manager, hospital_a, march_for_alpha):
    client.force_login(manager)
    client.get("/analytics/sla-report/alpha/2026-03.csv")
    event = AuditEvent.objects.get(action="analytics.sla_report.read")
    assert event.hospital_id == hospital_a.id and event.outcome == "success"
    assert event.detail["accessions"] == ["LATE-STAT", "LATE-URG"]


def test_a_month_without_studies_still_renders(client, manager, hospital_a):
    client.force_login(manager)
    response = client.get("/analytics/sla-report/alpha/2025-01.pdf")
    assert response.status_code == 200
    assert "None: every study was reported within its SLA." in pdf_text(response.content)


def test_a_month_that_does_not_exist_is_a_400_with_a_code(client, manager, hospital_a):
    from tests.conftest import api_as

    response = api_as(manager).get("/api/v1/analytics/sla-report/alpha/2026-13/")
    assert response.status_code == 400 and response.json()["code"] == "month_invalid"
    client.force_login(manager)
    assert client.get("/analytics/sla-report/alpha/2026-13.pdf").status_code == 400


def test_a_to_preliminary_promise_is_met_by_a_preliminary_in_time(manager, hospital_a,
                                                                  radiologist):  # fmt: skip
    """The SLA app's rule (clock_stopped_at): a to-preliminary clock stops at the first report."""
    SlaPolicy.objects.create(hospital=hospital_a, priority="stat", target_minutes=30,
                             clock_end="preliminary")  # fmt: skip
    # Preliminary after 20 minutes, final after 3 hours: met.
    signed_case(hospital_a, arrived=at(4, 1), tat=180, target=30, priority="stat",
                preliminary=20, reader=radiologist, accession_number="PRELIM-OK")  # fmt: skip
    # Preliminary after 45 minutes: 15 late. No preliminary, final after 40: 10 late.
    signed_case(hospital_a, arrived=at(4, 2), tat=90, target=30, priority="stat",
                preliminary=45, reader=radiologist, accession_number="PRELIM-LATE")  # fmt: skip
    signed_case(hospital_a, arrived=at(4, 3), tat=40, target=30, priority="stat",
                reader=radiologist, accession_number="FINAL-ONLY")  # fmt: skip
    report = sla_report(user=manager, hospital_code="alpha", month="2026-03")
    stat = report.rows[0]
    assert (stat.clock_end, stat.count, stat.met) == ("preliminary", 3, 1)
    assert stat.p50 == 40  # 20, 40, 45 minutes to the report that stopped the clock
    assert [(b.accession_number, b.minutes_late) for b in report.breaches] == [
        ("PRELIM-LATE", 15.0),
        ("FINAL-ONLY", 10.0),
    ]
    tat = tat_breakdown(user=manager, period=MARCH)
    assert (tat.overall.count, tat.overall.met) == (3, 1)
    assert tat.overall.final_p50 == 90  # TAT itself stays arrival to final
