"""A contact's portal user must belong to its hospital; managers edit contacts in the admin,
and each change is audited."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from readingcenter.audit.models import AuditEvent
from readingcenter.critical.models import HospitalContact

pytestmark = pytest.mark.django_db


def test_a_contact_cannot_name_another_hospitals_user(hospital_a, hospital_user_b):
    contact = HospitalContact(hospital=hospital_a, level=1, name="ED", user=hospital_user_b)
    with pytest.raises(ValidationError) as refused:
        contact.full_clean()
    assert "user" in refused.value.message_dict
    assert contact.channels == []  # and would never be notified on the portal anyway


def test_a_manager_adds_a_contact_in_the_admin_and_it_is_audited(
    hospital_a, hospital_user_a, manager
):
    manager.is_staff = manager.is_superuser = True
    manager.save()
    client = Client()
    client.force_login(manager)
    response = client.post(
        "/admin/critical/hospitalcontact/add/",
        {
            "hospital": hospital_a.pk,
            "name": "ED attending",
            "role": "ED attending on duty",
            "level": 1,
            "phone": "+82 2 555 0101",
            "email": "ed@alpha.example",
            "user": hospital_user_a.pk,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    contact = HospitalContact.objects.get()
    assert contact.channels == ["portal", "email"]
    event = AuditEvent.objects.get(action="critical_contact.create")
    assert event.actor_label == "mgr" and event.hospital_id == hospital_a.pk
    assert client.get("/admin/critical/criticalresult/").status_code == 200
