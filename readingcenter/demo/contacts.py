"""Escalation lists for the demo hospitals (fixtures/demo.json): idempotent."""

from __future__ import annotations

from django.db import transaction

from readingcenter.accounts.models import User
from readingcenter.critical.models import HospitalContact
from readingcenter.hospitals.selectors import hospital_by_code

# Level 1: the emergency department, reached on the portal (the hospital's demo user) and by
# email; level 2: the department chief, by email, with a phone number for the managers.
# Addresses are under .example (RFC 2606): the demo can never mail a real person.
DEMO_CONTACTS = {
    "seoul-north": [
        (1, "Emergency department", "ED attending on duty", "+82 2 555 0101",
         "ed.attending@seoul-north.example", "seoul.it"),
        (2, "Dr Lee Seung-ho", "Chief of emergency medicine", "+82 2 555 0102",
         "ed.chief@seoul-north.example", None),
    ],
    "gz-riverside": [
        (1, "Emergency department", "ED attending on duty", "+86 20 5555 0101",
         "ed.attending@gz-riverside.example", "gz.it"),
        (2, "Dr Wang Fang", "Head of radiology", "+86 20 5555 0102",
         "radiology.head@gz-riverside.example", None),
    ],
    "lakeview": [
        (1, "Emergency department", "ED attending on duty", "+1 312 555 0101",
         "ed.attending@lakeview.example", "lakeview.it"),
        (2, "Dr Maria Lopez", "ED medical director", "+1 312 555 0102",
         "ed.director@lakeview.example", None),
    ],
}  # fmt: skip


def load_demo_contacts() -> int:
    """Create the demo hospitals' contacts that are missing; returns how many it created.

    Hospitals or users that are not there (load_demo not run) are skipped, not an error.
    """
    created = 0
    with transaction.atomic():
        for code, rows in DEMO_CONTACTS.items():
            hospital = hospital_by_code(code)
            if hospital is None:
                continue
            for level, name, role, phone, email, username in rows:
                user = (
                    User.objects.filter(username=username, hospital=hospital).first()
                    if username
                    else None
                )
                _, made = HospitalContact.objects.get_or_create(
                    hospital=hospital,
                    level=level,
                    name=name,
                    defaults={"role": role, "phone": phone, "email": email, "user": user},
                )
                created += made
    return created
