from __future__ import annotations

from django.db import models


class IngestCursor(models.Model):
    """Where the follower is in Orthanc's change log.

    One row per Orthanc (``name``). It is moved in the same transaction as the rows the changes
    produced, so a crash anywhere re-reads exactly the changes whose effects were not committed.
    """

    name = models.CharField(max_length=64, unique=True, default="default")
    last_seq = models.BigIntegerField(default=0)
    # Set when Orthanc's change log went backwards (its database was reset); cleared once
    # every study Orthanc holds has been re-read.
    resync_needed = models.BooleanField(default=False)
    resyncs = models.PositiveIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_swept_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_seq}"
