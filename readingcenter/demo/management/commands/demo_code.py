from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

# The name load_demo gives the authenticators it makes; no other device is read out here.
DEMO_DEVICE = "demo"


class Command(BaseCommand):
    help = (
        "Print the current authenticator code of a demo account (made by load_demo), so the "
        "demo can be signed into without a phone. Real users' codes exist only on their phones."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        device = TOTPDevice.objects.filter(
            user__username=username, name=DEMO_DEVICE, confirmed=True
        ).first()
        if device is None:
            raise CommandError(
                f"{username!r} has no demo authenticator: only accounts made by load_demo have "
                "one (run `manage.py load_demo`); others set up their own app at sign-in."
            )
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        left = device.step - (totp.time - device.t0) % device.step
        self.stdout.write(f"{totp.token():0{device.digits}d}")
        self.stderr.write(f"(valid for {int(left)} more seconds)")
