from __future__ import annotations

import signal
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from readingcenter.pacs.orthanc_server import (
    OrthancConfig,
    OrthancProcess,
    OrthancServerError,
    PostgresIndex,
    postgresql_index_plugin,
)


def orthanc_index_from_settings() -> tuple[PostgresIndex | None, str]:
    """The index settings ask for, and a line saying which one and why.

    PostgreSQL whenever the plugin is installed (its database is created if missing);
    SQLite when ORTHANC_INDEX_URL says "sqlite", or the plugin is not there (said so).
    """
    url = (settings.ORTHANC_INDEX_URL or "").strip()
    if url.lower() == "sqlite":
        return None, "SQLite index (ORTHANC_INDEX_URL=sqlite): one Orthanc node only"
    if postgresql_index_plugin() is None:
        return None, (
            "SQLite index: the orthanc-postgresql plugin is not installed (`make setup` "
            "installs it), so this Orthanc cannot share its index with other nodes"
        )
    index = PostgresIndex.from_url(url)
    try:
        created = index.ensure_database()
    except Exception as exc:  # psycopg's errors: the server is down, refused, no rights
        raise OrthancServerError(
            f"cannot reach Orthanc's index database {index.database} on "
            f"{index.host}:{index.port} ({exc}); start PostgreSQL or set "
            "ORTHANC_INDEX_URL=sqlite"
        ) from exc
    what = "created" if created else "existing"
    return index, f"PostgreSQL index {index.database} on {index.host}:{index.port} ({what})"


def orthanc_config_from_settings(index: PostgresIndex | None = None) -> OrthancConfig:
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
        index=index,
    )


class Command(BaseCommand):
    help = "Run the reading center's own Orthanc (config generated under var/orthanc)."

    def handle(self, *args, **options):
        try:
            index, said = orthanc_index_from_settings()
            config = orthanc_config_from_settings(index)
            process = OrthancProcess(config).start()
        except OrthancServerError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Orthanc {config.aet} on DICOM port {config.dicom_port}, "
            f"REST {config.url} (loopback only); {said}"
        )
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        signal.signal(signal.SIGINT, lambda *a: stop.append(1))
        while not stop and process.running:
            time.sleep(0.5)
        process.stop()
