from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from readingcenter.accounts.models import User
from readingcenter.hospitals.models import Hospital, HospitalAETitle
from readingcenter.hospitals.services import hospital_create


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
                if not Hospital.objects.filter(code=item["code"]).exists():
                    hospital_create(actor="system:load_demo", **item)
                    created += 1
                else:
                    hospital = Hospital.objects.get(code=item["code"])
                    for title in item["ae_titles"]:
                        HospitalAETitle.objects.get_or_create(
                            ae_title=title, defaults={"hospital": hospital}
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
        self.stdout.write(f"demo data: {created} new hospitals/users, the rest already there")
