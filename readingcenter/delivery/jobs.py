from __future__ import annotations

from procrastinate.contrib.django import app

from readingcenter.delivery import services


@app.task(queue="delivery", name="delivery.drain_endpoint", pass_context=False)
def drain_endpoint(endpoint_id: int) -> None:
    """Send what one hospital endpoint is owed, in order; come back when a retry is due.

    Deferred by its name with ``lock`` and ``queueing_lock`` named after the endpoint
    (services.defer_drain): one drain runs at a time per endpoint and at most one more waits.
    """
    result = services.delivery_drain(endpoint_id=endpoint_id)
    if result.retry_at is not None:
        services.defer_drain(endpoint_id, at=result.retry_at)


@app.task(queue="delivery", name="delivery.render_pdf", pass_context=False)
def render_pdf(report_id: int) -> None:
    """Render and store a version's PDF as soon as it is signed (services.deliveries_create),
    so that its deliveries, retries and the portal only read it (selectors.report_pdf)."""
    from readingcenter.delivery.selectors import report_pdf
    from readingcenter.reports.models import Report

    report = (
        Report.objects.select_related("study__order", "hospital", "parent", "signed_by")
        .filter(pk=report_id)
        .first()
    )
    if report is not None and report.hash_matches():  # what is not as signed is never sent
        report_pdf(report)


@app.periodic(cron="* * * * *", periodic_id="deliveries-kick")
@app.task(
    queue="delivery", name="delivery.kick", queueing_lock="deliveries-kick", pass_context=False
)
def deliveries_kick(timestamp: int) -> None:
    """Backstop: drains for every endpoint with a due delivery, whatever happened to the jobs
    that should have sent them (a worker killed, a job lost). Computed from the database."""
    services.deliveries_kick()
