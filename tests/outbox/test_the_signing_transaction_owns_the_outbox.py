from __future__ import annotations

import pytest
from django.db import transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from readingcenter.delivery.models import Delivery
from readingcenter.reports.models import Report
from tests.outbox.conftest import hl7_endpoint, sign_new_report


class Rollback(Exception):
    pass


def test_a_signature_that_rolls_back_leaves_no_delivery_and_no_job(hospital_a, radiologist, engine):
    hl7_endpoint(hospital_a, engine)
    with pytest.raises(Rollback), transaction.atomic():
        sign_new_report(hospital_a, radiologist, impression="Never signed.")
        assert Delivery.objects.count() == 1
        raise Rollback
    assert Delivery.objects.count() == 0
    assert not Report.objects.filter(state="signed").exists()
    assert not ProcrastinateJob.objects.filter(task_name="delivery.drain_endpoint").exists()


def test_a_second_report_while_a_drain_waits_adds_no_second_job(hospital_a, radiologist, engine):
    hl7_endpoint(hospital_a, engine)
    sign_new_report(hospital_a, radiologist, impression="One.")
    sign_new_report(hospital_a, radiologist, impression="Two.")
    assert Delivery.objects.count() == 2
    # The waiting drain (its queueing lock) will send both.
    assert ProcrastinateJob.objects.filter(task_name="delivery.drain_endpoint").count() == 1


def test_a_drain_that_finished_before_the_signature_committed_is_asked_again(
    hospital_a, radiologist, engine, django_capture_on_commit_callbacks
):
    hl7_endpoint(hospital_a, engine)
    sign_new_report(hospital_a, radiologist, impression="One.")
    waiting = ProcrastinateJob.objects.get(task_name="delivery.drain_endpoint")
    with django_capture_on_commit_callbacks(execute=True):
        sign_new_report(hospital_a, radiologist, impression="Two.")
        # The waiting drain runs and finishes while the second signature is still open: it
        # could not see the second delivery.
        ProcrastinateJob.objects.filter(pk=waiting.pk).update(status="succeeded")
    todo = ProcrastinateJob.objects.filter(task_name="delivery.drain_endpoint", status="todo")
    assert todo.count() == 1


def test_the_deliveries_are_queued_before_the_critical_results_are_raised():
    # Both answer the signature on its hook point, in the order of INSTALLED_APPS.
    from readingcenter import hooks
    from readingcenter.critical import subscribers as critical
    from readingcenter.delivery import subscribers as delivery
    from readingcenter.followups import subscribers as followups
    from readingcenter.quality import subscribers as quality

    # Then the follow-ups the text recommends, and where it disagrees with the AI.
    assert hooks.subscribers("reports.report_signed") == [
        delivery.report_signed,
        critical.report_signed,
        followups.report_signed,
        quality.report_signed,
    ]
