"""The jobs: notify and the every-minute escalation on the 'critical' queue, and a real
Procrastinate worker running the notify job that signing deferred."""

from __future__ import annotations

import pytest
from django.db import connection
from procrastinate.contrib.django import app

from readingcenter.critical import jobs
from readingcenter.critical.models import CriticalNotification
from tests.critical.conftest import BLEED, sign_with_findings


def test_the_tasks_are_on_the_critical_queue_and_escalation_runs_every_minute():
    assert jobs.notify.queue == "critical" and jobs.escalate.queue == "critical"
    [periodic] = [
        task
        for task in app.periodic_registry.periodic_tasks.values()
        if task.periodic_id == "critical-escalate"
    ]
    assert periodic.cron == "* * * * *" and periodic.task.name == "critical.escalate"


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_notify_job_that_signing_deferred(
    hospital_a, radiologist, contacts_a, smtp, monkeypatch
):
    from readingcenter.critical import services

    def then_close(work):
        # The worker runs sync tasks in a pool thread whose Django connection outlives the
        # job; closed here so that the test database can be dropped afterwards.
        def run(**kwargs):
            try:
                return work(**kwargs)
            finally:
                connection.close()

        return run

    # The worker also runs the periodic escalation it schedules when it starts.
    for name in ("critical_result_notify", "critical_results_escalate"):
        monkeypatch.setattr(services, name, then_close(getattr(services, name)))
    _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])
    with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
        worker_app.run_worker(queues=["critical"], wait=False, install_signal_handlers=False)
    assert set(
        CriticalNotification.objects.filter(critical_result=result).values_list(
            "channel", "outcome"
        )
    ) == {("portal", "sent"), ("email", "sent")}
    assert len(smtp.to("ed@alpha.example")) == 1
