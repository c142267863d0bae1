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


@app.periodic(cron="* * * * *", periodic_id="deliveries-kick")
@app.task(
    queue="delivery", name="delivery.kick", queueing_lock="deliveries-kick", pass_context=False
)
def deliveries_kick(timestamp: int) -> None:
    """Backstop: drains for every endpoint with a due delivery, whatever happened to the jobs
    that should have sent them (a worker killed, a job lost). Computed from the database."""
    services.deliveries_kick()
