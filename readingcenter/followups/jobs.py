from __future__ import annotations

from procrastinate.contrib.django import app

from readingcenter.followups import services


@app.periodic(cron="17 * * * *", periodic_id="followups-overdue")
@app.task(queue="followups", name="followups.raise_overdue", queueing_lock="followups-overdue",
          pass_context=False)  # fmt: skip
def raise_overdue(timestamp: int) -> None:
    """Hourly: open follow-ups past their due date are raised once."""
    services.followups_raise_overdue()
