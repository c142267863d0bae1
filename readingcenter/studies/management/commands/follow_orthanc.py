from __future__ import annotations

import logging
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, connection

from readingcenter.pacs.orthanc import OrthancError
from readingcenter.studies.ingest import follow_once, sweep

log = logging.getLogger("readingcenter.follower")


class Command(BaseCommand):
    help = "Follow Orthanc's change log into the reading center (runs until stopped)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="apply what is waiting, then exit")
        parser.add_argument("--cursor", default="default", help="cursor name (one per Orthanc)")

    def handle(self, *args, once: bool, cursor: str, **options):
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        poll = settings.INGEST_POLL_INTERVAL
        backoff = poll
        last_sweep = float("-inf")  # sweep at start, however recently the machine booted
        # Connect to the Channels layer now rather than when the first study arrives.
        from channels.layers import get_channel_layer

        get_channel_layer()
        log.info("following %s every %.2fs", settings.ORTHANC_URL, poll)
        while not self.stopping:
            try:
                result = follow_once(name=cursor)
                if time.monotonic() - last_sweep > settings.INGEST_SWEEP_INTERVAL:
                    completed = sweep(name=cursor)
                    last_sweep = time.monotonic()
                    if completed:
                        log.info("sweep completed %d studies Orthanc had not announced", completed)
                backoff = poll
                if result.processed:
                    log.info("applied %d changes, cursor at %d", result.processed, result.cursor)
                if once and result.done:
                    return
                if result.done:
                    time.sleep(poll)
            except OrthancError as exc:
                log.warning("%s; retrying in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            except DatabaseError as exc:
                log.warning("database error: %s; retrying in %.1fs", exc, backoff)
                connection.close()
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def _stop(self, signum, frame):
        self.stopping = True
