"""The audit page is read by people: labelled filters, targets named, details as words."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from readingcenter.audit.services import audit_record
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def test_filters_are_labelled_and_lines_read_as_words(manager, radiologist, hospital_a):
    case = make_case(hospital_a)
    audit_record(actor=radiologist, action="case.list", target_type="worklist.case",
                 detail={"page": "worklist", "filters": {"priority": "stat"}, "results": 12,
                         "mine": False})  # fmt: skip
    audit_record(actor=radiologist, action="case.read", target=case, hospital=hospital_a,
                 patient_id=case.study.patient_id)  # fmt: skip
    client = Client()
    client.force_login(manager)
    html = client.get("/audit/").content.decode()
    for label in ("User", "Patient ID", "Study number", "Target", "Action", "Outcome",
                  "Hospital", "From"):  # fmt: skip
        assert re.search(rf"<label>{label} <(input|select)", html), label
    row = re.search(rf'<td class="target"[^>]*><a href="/cases/{case.pk}/">([^<]+)</a>', html)
    assert row.group(1) == f"Case {case.pk}"
    assert ">worklist.case" not in html  # the raw type only in the tooltip
    assert '<span class="muted">results</span> 12' in html
    assert '<span class="muted">filters</span> priority stat' in html
    assert '<span class="muted">mine</span> no' in html
    assert "{&#x27;" not in html and "{'" not in html  # no Python dict on the page


def test_the_target_filter_offers_words_and_filters(manager, radiologist, hospital_a):
    case = make_case(hospital_a)
    audit_record(actor=radiologist, action="case.read", target=case)
    client = Client()
    client.force_login(manager)
    html = client.get("/audit/?target_type=worklist.case").content.decode()
    assert '<option value="worklist.case" selected>Case</option>' in html
    assert f"Case {case.pk}" in html
