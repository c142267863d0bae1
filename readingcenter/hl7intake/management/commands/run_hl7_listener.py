from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from readingcenter.hl7intake.listener import Listener


class Command(BaseCommand):
    help = (
        "Listen for HL7 v2 orders (ORM^O01, OMI^O23) and ADT updates over MLLP from the "
        "hospitals' engines, answering each with an ACK."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HL7_LISTENER_HOST)
        parser.add_argument("--port", type=int, default=settings.HL7_LISTENER_PORT)

    def handle(self, *args, host, port, **options):
        try:
            listener = Listener(host, port)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port} ({exc}): is another listener running? "
                "Choose another port with --port or HL7_LISTENER_PORT."
            ) from exc
        self.stdout.write(f"HL7 listener on {host}:{listener.port} (MLLP)", ending="\n")
        self.stdout.flush()
        try:
            listener.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            listener.server_close()
