"""Productivity counts final reads per radiologist and adds the most specific RVU weight of
each: the procedure's own, then modality + body part, then the modality alone."""

from __future__ import annotations

from decimal import Decimal

from readingcenter.accounts.models import Role, User
from readingcenter.analytics.models import RvuWeight
from readingcenter.analytics.selectors import productivity
from readingcenter.studies.models import Order
from tests.analytics.conftest import MARCH, at, signed_case


def test_reads_are_weighted_by_the_most_specific_rvu(manager, hospital_a, radiologist):
    RvuWeight.objects.all().delete()  # only this test's weights
    RvuWeight.objects.create(modality="CT", rvu=Decimal("1.00"))
    RvuWeight.objects.create(modality="CT", body_part="HEAD", rvu=Decimal("0.85"))
    RvuWeight.objects.create(modality="CT", procedure="CT angiography head", rvu=Decimal("1.75"))
    order = Order.objects.create(hospital=hospital_a, accession_number="ORD1",
                                 requested_procedure="CT Angiography Head")  # fmt: skip
    signed_case(hospital_a, arrived=at(2, 1), tat=10, reader=radiologist, body_part="HEAD",
                order=order)  # fmt: skip
    signed_case(hospital_a, arrived=at(2, 2), tat=10, reader=radiologist, body_part="HEAD")
    signed_case(hospital_a, arrived=at(2, 3), tat=10, reader=radiologist, body_part="CHEST")
    signed_case(hospital_a, arrived=at(2, 4), tat=10, reader=radiologist, modality="XA")
    [row] = productivity(user=manager, period=MARCH)
    assert row.radiologist_id == radiologist.id
    assert (row.reads, row.weighted_reads) == (4, 3)
    assert row.rvu == Decimal("1.75") + Decimal("0.85") + Decimal("1.00")


def test_a_radiologist_sees_only_his_own_reads(hospital_a, radiologist):
    other = User.objects.create_user(username="dr.other", password="x", role=Role.RADIOLOGIST)
    signed_case(hospital_a, arrived=at(2, 1), tat=10, reader=radiologist)
    signed_case(hospital_a, arrived=at(2, 2), tat=10, reader=other)
    assert [r.username for r in productivity(user=radiologist, period=MARCH)] == ["dr.who"]
    assert len(productivity(user=other, period=MARCH)) == 1


def test_defaults_are_shipped_and_editable(db):
    head = RvuWeight.objects.get(modality="CT", body_part="HEAD", procedure="")
    assert head.rvu == Decimal("0.85") and head.code == "70450"
