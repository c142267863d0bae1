"""The dashboard's socket (/ws/ops/) with the real Redis layer: a manager hears that a case
arrived, a delivery was retried or a critical result acknowledged, after commit and never for
a rollback; anyone else is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from readingcenter.critical.services import critical_result_acknowledge
from readingcenter.delivery.services import delivery_retry
from readingcenter.ops.consumers import OpsHintConsumer
from tests.factories import make_case
from tests.hints import hints_during
from tests.ops.conftest import critical_result, failed_delivery, signed_report

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("own_redis_prefix")]


class Rollback(Exception):
    pass


def _hints_during(user, action, *, wait=1.5):
    return hints_during(OpsHintConsumer, "/ws/ops/", user, action, wait=wait, refused_ok=True)


def test_a_case_arriving_reaches_the_dashboard_after_commit(hospital_a, manager):
    made = {}
    received = _hints_during(manager, lambda: made.setdefault("case", make_case(hospital_a)))
    case = made["case"]
    assert {"type": "changed", "kind": "case", "id": case.pk} in received


def test_a_rolled_back_arrival_sends_nothing(hospital_a, manager):
    def arrive_then_fail():
        try:
            with transaction.atomic():
                make_case(hospital_a)
                raise Rollback
        except Rollback:
            pass

    assert _hints_during(manager, arrive_then_fail, wait=0.5) == []


def test_deliveries_and_critical_results_reach_the_dashboard(hospital_a, manager, radiologist):
    now = timezone.now()
    case = make_case(hospital_a)
    report = signed_report(case, radiologist, signed_at=now - dt.timedelta(minutes=1))
    delivery = failed_delivery(report)
    result = critical_result(report, now)

    def act():
        delivery_retry(delivery_id=delivery.pk, actor=manager)
        critical_result_acknowledge(
            critical_result_id=result.pk,
            user=manager,
            via="phone",
            name="Dr Lee, ED",
            read_back=True,
        )

    received = _hints_during(manager, act)

    assert {"type": "changed", "kind": "study", "id": case.study_id} in received
    assert {"type": "changed", "kind": "critical_result", "id": result.pk} in received


def test_radiologists_hospital_users_and_strangers_are_refused(
    hospital_a, radiologist, hospital_user_a
):
    from django.contrib.auth.models import AnonymousUser

    for user in (radiologist, hospital_user_a, AnonymousUser()):
        assert _hints_during(user, lambda: None, wait=0.2) is None
