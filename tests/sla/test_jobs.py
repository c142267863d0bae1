"""The escalation pass is a periodic job on the 'sla' queue, every minute."""

from __future__ import annotations

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


def test_the_job_calls_the_escalation_pass(monkeypatch):
    from readingcenter.sla import services

    calls = []
    monkeypatch.setattr(services, "sla_escalate", lambda **kw: calls.append(kw))
    jobs.escalate(timestamp=0)
    assert calls == [{}]
