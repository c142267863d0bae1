"""The demo hospitals get an escalation list: the ED (portal and email) then a chief."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from readingcenter.critical.models import HospitalContact
from readingcenter.demo.contacts import load_demo_contacts

pytestmark = pytest.mark.django_db


def test_the_demo_loads_its_contacts_once():
    call_command("load_demo", verbosity=0)
    assert HospitalContact.objects.count() == 6
    assert load_demo_contacts() == 0
    call_command("load_demo_contacts", verbosity=0)
    assert HospitalContact.objects.count() == 6
    seoul = HospitalContact.objects.get(hospital__code="seoul-north", level=1)
    assert seoul.user.username == "seoul.it" and seoul.channels == ["portal", "email"]
    assert seoul.email.endswith(".example")  # never a real mailbox
    assert set(HospitalContact.objects.values_list("level", flat=True)) == {1, 2}


def test_without_the_demo_hospitals_nothing_is_created():
    assert load_demo_contacts() == 0
