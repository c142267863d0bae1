from __future__ import annotations

import signal
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from readingcenter.pacs.orthanc_server import OrthancConfig, OrthancProcess, OrthancServerError


def orthanc_config_from_settings() -> OrthancConfig:
    from urllib.parse import urlsplit

    http_port = urlsplit(settings.ORTHANC_URL).port or 8042
    return OrthancConfig(
        directory=Path(settings.VAR_DIR) / "orthanc",
        http_port=http_port,
        dicom_port=settings.ORTHANC_DICOM_PORT,
        aet=settings.ORTHANC_AET,
        username=settings.ORTHANC_USERNAME,
        password=settings.ORTHANC_PASSWORD,
        stable_age=settings.ORTHANC_STABLE_AGE,
    )


class Command(BaseCommand):
    help = "Run the reading center's own Orthanc (config generated under var/orthanc)."

    def handle(self, *args, **options):
        config = orthanc_config_from_settings()
        process = OrthancProcess(config)
        try:
            process.start()
        except OrthancServerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Orthanc {config.aet} on DICOM port {config.dicom_port}, "
            f"REST {config.url} (loopback only)"
        )
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        signal.signal(signal.SIGINT, lambda *a: stop.append(1))
        while not stop and process.running:
            time.sleep(0.5)
        process.stop()
