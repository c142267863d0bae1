"""One small dispatch table: how a lower layer causes work above it without importing it.

A study completes in ``studies``, a report is signed in ``reports``; what follows (triage, the
worklist case, delivery, critical results, SLA clocks) lives in apps above them. The lower app
names a hook point and *publishes* to it; each higher app *subscribes* in its
``AppConfig.ready()``. The lower layer never learns who listens, so the import arrows all point
down (``tests/architecture`` checks it).

Two kinds of call, both synchronous and in the caller's transaction:

- ``publish(point, **kw)``: an event ("a report was signed"). Every subscriber runs, in the order
  they subscribed; an exception rolls the caller's transaction back like any other write would,
  which is what keeps the outbox exact (a delivery exists only if the signature commits).
- ``gather(point, **kw)``: a question ("what panels go on the case page?", "what deadline does
  this case have?"). Every subscriber's answer that is not ``None``, in subscription order.

Hook points are plain strings named ``<app>.<what happened>`` and written down, with the
keyword arguments they pass, where they are published. Work that may take long or must survive a
crash is not done here: a subscriber defers a Procrastinate job, inside the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

_subscribers: dict[str, list[Callable[..., Any]]] = defaultdict(list)


def subscribe(point: str, handler: Callable[..., Any] | None = None):
    """Register ``handler`` for ``point`` (also usable as ``@subscribe(point)``). Idempotent."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if fn not in _subscribers[point]:
            _subscribers[point].append(fn)
        return fn

    return register(handler) if handler is not None else register


def publish(point: str, **kwargs: Any) -> None:
    for handler in list(_subscribers.get(point, ())):
        handler(**kwargs)


def gather(point: str, **kwargs: Any) -> list[Any]:
    answers = []
    for handler in list(_subscribers.get(point, ())):
        answer = handler(**kwargs)
        if answer is not None:
            answers.append(answer)
    return answers


def first(point: str, default: Any = None, **kwargs: Any) -> Any:
    """The first subscriber's answer that is not ``None``, else ``default``."""
    for handler in list(_subscribers.get(point, ())):
        answer = handler(**kwargs)
        if answer is not None:
            return answer
    return default


def subscribers(point: str) -> list[Callable[..., Any]]:
    """Who listens on ``point`` (for tests and for the admin's system page)."""
    return list(_subscribers.get(point, ()))
