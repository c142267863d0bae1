"""Hints over Channels with the real Redis layer: the hospital's open page hears that a result
was raised, notified or acknowledged (after commit); another hospital hears nothing."""

from __future__ import annotations

import pytest
from django.db import transaction

from readingcenter.critical.consumers import CriticalHintConsumer
from readingcenter.critical.services import critical_result_acknowledge, critical_result_notify
from tests.critical.conftest import BLEED, sign_with_findings
from tests.hints import hints_during

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_redis_prefix")]


def _hints_during(user, action, *, wait=1.5):
    return hints_during(CriticalHintConsumer, "/ws/critical/", user, action, wait=wait)


def test_the_hospitals_page_hears_the_result_its_notification_and_its_acknowledgement(
    hospital_a, radiologist, contacts_a, hospital_user_a, hospital_user_b, manager
):
    state = {}

    def sign():
        _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
        state["id"] = result.pk

    raised = _hints_during(hospital_user_a, sign)
    assert raised == [
        {"type": "critical_result", "id": state["id"], "state": "open", "level": 1,
         "event": "raised"}
    ]  # fmt: skip
    told = _hints_during(
        manager, lambda: critical_result_notify(critical_result_id=state["id"]), wait=1.0
    )
    assert [h["event"] for h in told] == ["notified"]
    assert (
        _hints_during(
            hospital_user_b,
            lambda: critical_result_notify(critical_result_id=state["id"]),
            wait=0.5,
        )
        == []
    )

    class Rollback(Exception):
        pass

    def acknowledge_then_fail():
        try:
            with transaction.atomic():
                critical_result_acknowledge(
                    critical_result_id=state["id"],
                    user=hospital_user_a,
                    via="portal",
                    read_back=True,
                )
                raise Rollback
        except Rollback:
            pass

    assert _hints_during(hospital_user_a, acknowledge_then_fail, wait=0.5) == []
    acknowledged = _hints_during(
        hospital_user_a,
        lambda: critical_result_acknowledge(
            critical_result_id=state["id"], user=hospital_user_a, via="portal", read_back=True
        ),
    )
    assert [(h["event"], h["state"]) for h in acknowledged] == [("acknowledged", "acknowledged")]
