"""Rows for tests that exercise the API and services rather than ingest itself."""

from __future__ import annotations

import itertools

from readingcenter.studies.models import Study, StudyStatus

_seq = itertools.count(1)


def make_study(hospital, *, status=StudyStatus.COMPLETE, accession_number=None, **fields) -> Study:
    n = next(_seq)
    return Study.objects.create(
        study_instance_uid=f"1.2.826.0.1.3680043.10.999.{n}",
        orthanc_id=f"test-orthanc-{n:08d}",
        hospital=hospital,
        status=status,
        accession_number=accession_number if accession_number is not None else f"ACC{n:06d}",
        patient_name=fields.pop("patient_name", f"Test^Patient{n}"),
        patient_id=fields.pop("patient_id", f"PID{n}"),
        modalities=fields.pop("modalities", ["CT"]),
        # Completing a study makes its first version (triage runs on versions, from 1).
        version=fields.pop("version", 1 if status == StudyStatus.COMPLETE else 0),
        **fields,
    )


def make_case(hospital, *, completed_minutes_ago: float = 5, priority="routine", **fields):
    """A complete study and the case its completion opens, through the real service."""
    import datetime as dt

    from django.db import transaction
    from django.utils import timezone

    from readingcenter.worklist.services import case_sync_from_study

    study = make_study(
        hospital,
        priority=priority,
        completed_at=timezone.now() - dt.timedelta(minutes=completed_minutes_ago),
        **fields,
    )
    with transaction.atomic():
        return case_sync_from_study(study)
