"""The demo's readers, privileges, shifts and promises load, twice without change."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from readingcenter.accounts.models import Privilege, Shift, User
from readingcenter.accounts.selectors import on_duty_ids, privileged_hospital_ids
from readingcenter.sla.models import SlaPolicy

pytestmark = pytest.mark.django_db


def test_the_demo_readers_hold_privileges_and_one_licence_has_expired():
    call_command("load_demo", verbosity=0)
    counts = (Privilege.objects.count(), Shift.objects.count(), SlaPolicy.objects.count())
    call_command("load_demo", verbosity=0)
    assert (Privilege.objects.count(), Shift.objects.count(), SlaPolicy.objects.count()) == counts

    smith = User.objects.get(username="dr.smith")
    codes = {p.hospital.code for p in Privilege.objects.filter(radiologist=smith)}
    visible = set(
        Privilege.objects.filter(hospital_id__in=privileged_hospital_ids(smith)).values_list(
            "hospital__code", flat=True
        )
    )
    assert codes == {"lakeview", "gz-riverside"} and visible == {"lakeview"}
    on_duty = {u.username for u in User.objects.filter(id__in=on_duty_ids(at=timezone.now()))}
    assert on_duty == {"dr.kim", "dr.chen"}
    assert SlaPolicy.objects.get(hospital__code="seoul-north", priority="stat").target_minutes == 20
