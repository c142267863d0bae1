"""Live hints over Channels: "this study changed, refetch it". Never state.

Hints are sent after commit (a rolled-back change must not be announced) and at most once;
a lost hint only delays a page until its next refetch, so failures are logged, not raised.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from django.db import transaction

log = logging.getLogger(__name__)

ALL_STUDIES_GROUP = "studies.all"


def hospital_group(hospital_id: int) -> str:
    return f"studies.hospital.{hospital_id}"


def send_study_changed(study_id: int, status: str, hospital_id: int | None) -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "study.hint", "study_id": study_id, "status": status}
    try:
        async_to_sync(layer.group_send)(ALL_STUDIES_GROUP, message)
        if hospital_id is not None:
            async_to_sync(layer.group_send)(hospital_group(hospital_id), message)
    except Exception as exc:
        log.warning("could not send a live hint for study %s: %s", study_id, exc)


def on_commit_study_changed(study) -> None:
    study_id, status, hospital_id = study.id, study.status, study.hospital_id
    transaction.on_commit(lambda: send_study_changed(study_id, status, hospital_id))
