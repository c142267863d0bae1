from __future__ import annotations

import threading

import pytest
from django.db import connection

from readingcenter.delivery import selectors
from readingcenter.reports.models import Report
from readingcenter.reports.services import report_templates_load
from tests.outbox.conftest import sign_new_report


@pytest.fixture
def signed(hospital_a, radiologist):
    report_templates_load()
    return sign_new_report(hospital_a, radiologist, impression="Acute subdural hematoma.")


def test_threads_asking_for_the_same_version_at_once_share_one_rendering(signed, monkeypatch):
    from readingcenter.delivery.formats import pdf as pdf_format

    real, calls = pdf_format.render_pdf, []
    started = threading.Event()

    def counting(document):
        calls.append(document.report_id)
        started.set()
        return real(document)

    monkeypatch.setattr(pdf_format, "render_pdf", counting)
    selectors._pdf_cache.clear()
    # Everything the document needs, read here: the threads must not touch the database
    # (they could not see this test's transaction).
    report = Report.objects.select_related(
        "study__order", "hospital", "signed_by", "parent", "case"
    ).get(pk=signed.pk)
    selectors.report_document(report)
    results: list[bytes] = []

    def ask():
        try:
            results.append(selectors.report_pdf(report))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert calls == [signed.pk]
    assert len(results) == 3 and len(set(results)) == 1 and results[0].startswith(b"%PDF")
    # And later asks are served from memory.
    assert selectors.report_pdf(report) == results[0] and calls == [signed.pk]
