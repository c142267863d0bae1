"""The escalation pass is a periodic job on the 'sla' queue, every minute."""

from __future__ import annotations

import pytest
from procrastinate.contrib.django import app

from readingcenter.sla import jobs


def test_the_escalation_runs_every_minute_on_the_sla_queue():
    assert jobs.escalate.queue == "sla"
    [periodic] = [
        task
        for task in app.periodic_registry.periodic_tasks.values()
        if task.periodic_id == "sla-escalate"
    ]
    assert periodic.cron == "* * * * *" and periodic.task.name == "sla.escalate"


def test_the_job_calls_the_escalation_pass_then_the_coverage_alerts(monkeypatch):
    from readingcenter.sla import services

    calls = []
    monkeypatch.setattr(services, "sla_escalate", lambda **kw: calls.append("escalate"))
    monkeypatch.setattr(services, "sla_alert_uncovered", lambda **kw: calls.append("uncovered"))
    jobs.escalate(timestamp=0)
    assert calls == ["escalate", "uncovered"]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_pass_and_takes_the_step_once(hospital_a, manager, monkeypatch):
    """A Procrastinate worker on the 'sla' queue, twice: the second run finds it done."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from readingcenter.sla import services
    from readingcenter.sla.models import CaseEscalation, EscalationTier
    from readingcenter.worklist import services as worklist_services
    from tests.sla.conftest import open_case

    def then_close(work):
        # The worker runs sync tasks in a pool thread whose Django connection outlives the
        # job; closed here so that the test database can be dropped afterwards.
        def run(**kwargs):
            try:
                return work(**kwargs)
            finally:
                connection.close()

        return run

    monkeypatch.setattr(services, "sla_escalate", then_close(services.sla_escalate))
    monkeypatch.setattr(
        worklist_services, "claims_expire_idle", then_close(worklist_services.claims_expire_idle)
    )
    tier = EscalationTier.objects.create(trigger="breached", action="alert_manager")
    case = open_case(hospital_a, completed_at=timezone.now() - dt.timedelta(hours=3),
                     priority="urgent")  # fmt: skip
    from procrastinate.contrib.django.models import ProcrastinateJob

    for _run in range(2):
        # The worker's own periodic deferrer may already have queued this minute's pass (the
        # queueing lock then refuses a second one); either way one pass is waiting.
        waiting = ProcrastinateJob.objects.filter(queueing_lock="sla-escalate", status="todo")
        if not waiting.exists():
            jobs.escalate.defer(timestamp=int(timezone.now().timestamp()))
        with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
            worker_app.run_worker(queues=["sla"], wait=False, install_signal_handlers=False)
    assert CaseEscalation.objects.filter(case=case, tier=tier).count() == 1
