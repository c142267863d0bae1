"""ASGI entry point: HTTP through Django, WebSockets (live hints) through Channels."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
# Each request's synchronous part runs in a thread of its own and database connections belong
# to threads: without a pool every request opened a new PostgreSQL connection (settings.py).
os.environ.setdefault("DATABASE_POOL", "true")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402 - needs Django set up first
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from readingcenter.critical.consumers import CriticalHintConsumer  # noqa: E402
from readingcenter.ops.consumers import OpsHintConsumer  # noqa: E402
from readingcenter.sla.consumers import SlaHintConsumer  # noqa: E402
from readingcenter.studies.consumers import StudyHintConsumer  # noqa: E402
from readingcenter.viewer import dicomweb_fast  # noqa: E402
from readingcenter.worklist.consumers import WorklistHintConsumer  # noqa: E402
from readingcenter.ws_auth import SecondFactorMiddleware, TokenAuthMiddleware  # noqa: E402

websocket_routes = [
    path("ws/studies/", StudyHintConsumer.as_asgi()),
    path("ws/worklist/", WorklistHintConsumer.as_asgi()),
    path("ws/critical/", CriticalHintConsumer.as_asgi()),
    path("ws/ops/", OpsHintConsumer.as_asgi()),
    path("ws/sla/", SlaHintConsumer.as_asgi()),
]

application = ProtocolTypeRouter(
    {
        # The frames of a study the viewer was just allowed to open skip Django's request
        # cycle (viewer/dicomweb_fast.py); everything else, and every decision, goes through it.
        "http": dicomweb_fast.application(django_asgi_app),
        # Origin checked against ALLOWED_HOSTS: another site cannot ride a user's session.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(
                SecondFactorMiddleware(TokenAuthMiddleware(URLRouter(websocket_routes)))
            )
        ),
    }
)


def _send_whole_answers() -> None:
    """Under daphne (Twisted), let one socket write take a whole DICOMweb frame.

    Twisted's TCP connection sends at most ``SEND_LIMIT`` (128 KiB, a guard for Windows) per
    write and waits for the next turn of the event loop for the rest: a 512 KiB frame took four
    turns, each with the other connections' work between. Linux takes what its socket buffer
    holds and says how much, so the cap only costs turns here. Other servers are untouched.
    """
    try:
        from twisted.internet import tcp
    except ImportError:  # not under daphne
        return
    tcp.Connection.SEND_LIMIT = max(tcp.Connection.SEND_LIMIT, 4 * 1024 * 1024)


_send_whole_answers()

# Everything imported so far lives as long as the process: move it out of the collector's
# sight, so that the full collections that large heaps trigger do not walk it on every
# request (measured on the worklist page: about 8 ms of a 23 ms request, bench/worklist.py).
gc.freeze()
