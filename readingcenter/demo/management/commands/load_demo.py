from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from readingcenter.accounts.models import Privilege, RadiologistProfile, Shift, User
from readingcenter.delivery.models import DeliveryEndpoint
from readingcenter.demo.contacts import load_demo_contacts
from readingcenter.demo.management.commands.demo_code import DEMO_DEVICE
from readingcenter.demo.sla import load_demo_sla
from readingcenter.hospitals.models import (
    Hospital,
    HospitalAETitle,
    HospitalHL7Facility,
    HospitalPACS,
)
from readingcenter.hospitals.services import hospital_create
from readingcenter.reports.services import report_templates_load
from readingcenter.sla.models import SlaPolicy
from readingcenter.sla.services import sla_policy_set


class Command(BaseCommand):
    help = "Load the demo hospitals and users (idempotent: running it again changes nothing)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--file", default=str(Path(settings.BASE_DIR) / "fixtures" / "demo.json")
        )

    def handle(self, *args, file: str, **options):
        try:
            data = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the demo fixture {file}: {exc}") from exc
        created = 0
        with transaction.atomic():
            for item in data["hospitals"]:
                item = dict(item)
                auto_assign = item.pop("auto_assign_stat", False)
                facility = item.pop("hl7_facility", None)
                pacs = item.pop("pacs", None)
                if not Hospital.objects.filter(code=item["code"]).exists():
                    hospital_create(actor="system:load_demo", **item)
                    Hospital.objects.filter(code=item["code"]).update(auto_assign_stat=auto_assign)
                    created += 1
                else:
                    hospital = Hospital.objects.get(code=item["code"])
                    for title in item["ae_titles"]:
                        HospitalAETitle.objects.get_or_create(
                            ae_title=title, defaults={"hospital": hospital}
                        )
                if pacs:
                    # Its own archive, where the reading center looks for priors.
                    HospitalPACS.objects.get_or_create(
                        hospital=Hospital.objects.get(code=item["code"]), defaults=pacs
                    )
                if facility:
                    # The RIS that sends its orders over HL7, in its own character set.
                    HospitalHL7Facility.objects.get_or_create(
                        sending_facility=facility.pop("sending_facility"),
                        defaults={"hospital": Hospital.objects.get(code=item["code"]), **facility},
                    )
            for item in data["users"]:
                item = dict(item)
                code = item.pop("hospital", None)
                hospital = Hospital.objects.get(code=code) if code else None
                user, made = User.objects.get_or_create(
                    username=item.pop("username"), defaults={**item, "hospital": hospital}
                )
                if made:
                    user.set_password(data["password"])
                    user.save()
                    created += 1
                if user.requires_second_factor and not TOTPDevice.objects.filter(user=user):
                    # A demo authenticator: `manage.py demo_code <user>` shows its code, so
                    # the demo can be tried without a phone.
                    TOTPDevice.objects.create(user=user, name=DEMO_DEVICE, confirmed=True)
                    created += 1
            created += self._load_reading(data)
            created += self._load_reporting(data)
        self.stdout.write(f"demo data: {created} new rows, the rest already there")

    def _load_reading(self, data) -> int:
        """Radiologists' privileges, profiles and today's shifts; each hospital's promises.

        Dates are relative to today so the demo always shows a valid licence, one that
        expired yesterday (dr.smith at Guangzhou), readers on and off duty.
        """
        created = 0
        today, now = timezone.now().date(), timezone.now()
        for username, item in data.get("radiologists", {}).items():
            user = User.objects.get(username=username)
            RadiologistProfile.objects.update_or_create(
                user=user,
                defaults={
                    "subspecialties": item["subspecialties"],
                    "modalities": item["modalities"],
                },
            )
            for grant in item["privileges"]:
                _, made = Privilege.objects.get_or_create(
                    radiologist=user,
                    hospital=Hospital.objects.get(code=grant["hospital"]),
                    defaults={
                        "licence_number": grant["licence_number"],
                        "valid_from": today - dt.timedelta(days=365),
                        "valid_until": today + dt.timedelta(days=grant["valid_until_days"]),
                    },
                )
                created += made
            start, end = item["shift_hours"]
            starts_at = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=start)
            if not Shift.objects.filter(radiologist=user, ends_at__gt=now).exists():
                Shift.objects.create(
                    radiologist=user,
                    starts_at=starts_at,
                    ends_at=starts_at + dt.timedelta(hours=end - start),
                )
                created += 1
        for item in data.get("sla_policies", []):
            hospital = Hospital.objects.get(code=item["hospital"])
            if not SlaPolicy.objects.filter(hospital=hospital, priority=item["priority"]).exists():
                sla_policy_set(
                    hospital=hospital,
                    priority=item["priority"],
                    target_minutes=item["target_minutes"],
                    at_risk_percent=item.get("at_risk_percent", 75),
                    actor="system:load_demo",
                )
                created += 1
        return created

    def _load_reporting(self, data) -> int:
        """Report templates and macros, critical-result contacts, delivery endpoints."""
        created = report_templates_load() + load_demo_contacts() + load_demo_sla()
        for item in data.get("delivery_endpoints", []):
            item = dict(item)
            hospital = Hospital.objects.get(code=item.pop("hospital"))
            _, made = DeliveryEndpoint.objects.get_or_create(
                hospital=hospital, channel=item.pop("channel"), name=item.pop("name"),
                defaults=item,
            )  # fmt: skip
            created += made
        return created
