"""Model versions and the runs they recorded at chosen instants, for the monitoring tests.

Runs are written straight to the table (what monitoring reads), at the instant the test
names: ``created_at`` is stamped by the database layer's clock, which is held still while
they are written (the runs' own immutability forbids moving them afterwards).
"""

from __future__ import annotations

import datetime as dt
import itertools
from unittest import mock

from django.utils import timezone

from tests.factories import make_study
from triage.models import ModelVersion, TriageRun

_versions = itertools.count(1)
EXPECTED = {"expected_positive_rate": 0.08, "alert_factor": 3.0, "min_studies": 50}


def model_version(*, name="head-ct-ich", version="2.0.0", monitoring=EXPECTED, **card):
    return ModelVersion.objects.create(
        model_name=name,
        model_version=version,
        weights_sha256="ab" * 32,
        card={
            "name": name,
            "version": version,
            "intended_use": "Flags non-contrast head CT with suspected intracranial haemorrhage",
            "findings": [{"code": "ich", "display": "intracranial haemorrhage", "threshold": 0.5}],
            "monitoring": dict(monitoring or {}),
            **card,
        },
        last_seen_at=timezone.now(),
    )


def record_runs(version, hospital, *, at: dt.datetime, total: int, flagged: int = 0,
                status: str = "succeeded", scores=None) -> list[TriageRun]:  # fmt: skip
    """``total`` runs of ``version`` at ``at``, the first ``flagged`` of them positive;
    ``scores`` (one per run) are the ich probabilities (default 0.9 flagged, 0.02 not)."""
    study = make_study(hospital)
    rows = []
    for i in range(total):
        positive = i < flagged and status == "succeeded"
        score = scores[i] if scores is not None else (0.9 if i < flagged else 0.02)
        rows.append(
            TriageRun(
                study=study,
                study_version=next(_versions),
                model_name=version.model_name,
                model_version=version.model_version,
                weights_sha256=version.weights_sha256,
                thresholds={"ich": 0.5},
                status=status,
                probabilities={"ich": score},
                flags={"ich": positive},
            )
        )
    with mock.patch("django.utils.timezone.now", return_value=at):
        return TriageRun.objects.bulk_create(rows)
