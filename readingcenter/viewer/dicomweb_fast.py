"""The frames of a study the viewer was just allowed to open, relayed outside Django's cycle.

A viewer opening a 150-slice CT asks for each frame separately. Through Django each of those
requests paid for a new thread (Django gives every ASGI request a thread of its own), the
session and user rows, and the middleware chain: about 15 ms on top of Orthanc's 7 ms for a
512 KiB frame (profiled with py-spy under bench/dicomweb.py).

This path decides nothing itself. It answers only what the full path (``dicomweb.handle``)
has just decided, as written down in ``grants``: the same credential (session cookie or API
token, remembered as a hash), for a study this user was allowed within
``DICOMWEB_GRANT_SECONDS``, for a path below that study that is not the series list
(opening a study is always decided, and audited, in full). Anything else, and any trouble at
all before the answer starts, falls through to Django, which decides afresh and answers errors
the usual way.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from readingcenter.errors import DomainError
from readingcenter.pacs.orthanc import answering_url
from readingcenter.viewer import grants
from readingcenter.viewer.routes import CONNECT_TIMEOUT, ROOT, Route, Upstream, parse_route

logger = logging.getLogger(__name__)


def _route(scope) -> Route | None:
    path = scope["path"]
    if scope["method"] != "GET" or not path.startswith(ROOT):
        return None
    try:
        route = parse_route(path[len(ROOT) :])
    except DomainError:
        return None
    if not route.study_instance_uid or route.lists_series or route.search_level:
        return None
    return route


def _upstream(scope, headers: dict[str, str], route: Route) -> Upstream | None:
    host = headers.get("host", "")
    domain, _port = split_domain_port(host)
    # Django's own host check: a Host it would refuse is the full path's to refuse.
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    return Upstream(
        path=f"{ROOT}{route.path}" + (f"?{query}" if query else ""),
        accept=headers.get("accept"),
        forwarded=f"host={host};proto={scope.get('scheme', 'http')}",
    )


class _Exchange(asyncio.BufferedProtocol):
    """One keep-alive HTTP/1.1 connection to Orthanc, each answer read straight into place.

    The socket writes the whole answer, head and body, into one buffer the connection keeps
    (a frame usually arrives in one or two reads): no stream buffer that pauses reading every
    128 KiB, no copies but the body's one. Only the plain case is kept (200, Content-Length,
    no transfer or content coding, at most a chunk); anything else ends the exchange with None
    and closes the connection.
    """

    HEAD_LIMIT = 64 * 1024

    def __init__(self):
        self.transport: asyncio.Transport | None = None  # set once connected
        self.buffer = bytearray()
        self.closed = False
        self.answer: asyncio.Future | None = None
        self.filled = 0
        self.body_start = self.length = 0
        self.content_type = ""
        self.keep_alive = False

    def usable(self) -> bool:
        return not self.closed and not self.transport.is_closing()

    def request(self, request: bytes) -> asyncio.Future:
        # Room for the longest head and body kept, and more: a full buffer is out of step.
        size = self.HEAD_LIMIT + 4 + settings.DICOMWEB_CHUNK_SIZE + 1
        if len(self.buffer) != size:
            self.buffer = bytearray(size)
        self.filled = self.length = 0
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.answer

    def close(self) -> None:
        self.closed = True
        self.transport.close()

    # -- asyncio's side (BufferedProtocol) ---------------------------------------------------
    # At end of file the transport closes itself (the default); connection_lost follows.

    def connection_lost(self, exc):
        self.closed = True
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionError("Orthanc closed the connection"))

    def get_buffer(self, sizehint):
        if self.filled < len(self.buffer):
            return memoryview(self.buffer)[self.filled :]
        return bytearray(sizehint if sizehint > 0 else 4096)  # past the end: closed unread

    def buffer_updated(self, nbytes):
        self.filled += nbytes
        if self.answer is None or self.answer.done() or self.filled >= len(self.buffer):
            self._end(None)  # bytes nobody asked for, or too many: out of step
        elif self.length:
            self._body_read()
        else:
            self._head_read(nbytes)

    # -- the answer -------------------------------------------------------------------------

    def _head_read(self, nbytes: int) -> None:
        ends = self.buffer.find(b"\r\n\r\n", max(0, self.filled - nbytes - 3), self.filled)
        if ends < 0 or ends > self.HEAD_LIMIT:
            if ends > self.HEAD_LIMIT or self.filled > self.HEAD_LIMIT + 3:
                self._end(None)
            return
        status_line, *header_lines = self.buffer[:ends].decode("latin-1").split("\r\n")
        fields = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            if name:
                fields[name.strip().lower()] = value.strip()
        length = fields.get("content-length", "")
        if (
            status_line.split(" ")[1:2] != ["200"]
            or not length.isdigit()
            or "transfer-encoding" in fields
            or fields.get("content-encoding", "identity") != "identity"
            or int(length) > settings.DICOMWEB_CHUNK_SIZE
        ):
            self._end(None)
            return
        self.content_type = fields.get("content-type", "application/octet-stream")
        self.keep_alive = fields.get("connection", "").lower() != "close"
        self.body_start, self.length = ends + 4, int(length)
        if self.length == 0:
            self._end((self.content_type, b""))  # nothing to mark the body as started
        else:
            self._body_read()

    def _body_read(self) -> None:
        ends = self.body_start + self.length
        if self.filled == ends:
            self._end((self.content_type, bytes(memoryview(self.buffer)[self.body_start : ends])))
        elif self.filled > ends:
            self._end(None)

    def _end(self, result) -> None:
        """Settle the exchange; None also closes the connection."""
        if result is None and not self.closed:
            self.close()
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(result)


class _Upstream:
    """Keep-alive HTTP/1.1 connections to Orthanc on the event loop itself.

    A frame fetched with requests in a worker thread paid two thread hops and urllib3's
    machinery; here it is one write and one read on a connection already open. Only the
    plain case is handled (200, Content-Length, no transfer coding); anything else returns
    None and the request takes the full path.
    """

    # Connections kept open between requests (each keeps a buffer of a chunk).
    KEEP_IDLE = 16

    def __init__(self):
        self.idle: list[_Exchange] = []
        self.key = None
        self._authorization = None

    def _node(self):
        """The node to ask, and the connections kept for it (on this loop: they belong to one)."""
        loop, url = asyncio.get_running_loop(), answering_url()
        if self.key != (loop, url):
            if self.key is not None and self.key[0] is loop:  # another node: close these
                for exchange in self.idle:
                    exchange.close()
            self.idle, self.key = [], (loop, url)
        return urlsplit(url)

    def _authorization_header(self) -> str:
        credentials = (settings.ORTHANC_USERNAME, settings.ORTHANC_PASSWORD)
        if self._authorization is None or self._authorization[0] != credentials:
            encoded = base64.b64encode(":".join(credentials).encode()).decode()
            self._authorization = (credentials, f"Basic {encoded}")
        return self._authorization[1]

    async def _connection(self, url) -> _Exchange:
        while self.idle:
            exchange = self.idle.pop()
            if exchange.usable():
                return exchange
            exchange.close()
        loop, exchange = asyncio.get_running_loop(), _Exchange()
        async with asyncio.timeout(CONNECT_TIMEOUT):
            exchange.transport, _ = await loop.create_connection(
                lambda: exchange, url.hostname, url.port or 80
            )
        return exchange

    async def get(self, upstream: Upstream) -> tuple[str, bytes] | None:
        """(Content-Type, body) of a 200 with a Content-Length, else None."""
        url = self._node()
        if url.scheme != "http":
            return None
        exchange = await self._connection(url)
        lines = [
            f"GET {upstream.path} HTTP/1.1",
            f"Host: {url.netloc}",
            f"Authorization: {self._authorization_header()}",
            f"Forwarded: {upstream.forwarded}",
            "Accept-Encoding: identity",
            "Connection: keep-alive",
        ]
        if upstream.accept:
            lines.append(f"Accept: {upstream.accept}")
        answer = None
        try:
            async with asyncio.timeout(settings.ORTHANC_TIMEOUT):
                answer = await exchange.request(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            return answer
        finally:
            if answer is not None and exchange.keep_alive and exchange.usable():
                if len(self.idle) < self.KEEP_IDLE:
                    self.idle.append(exchange)
                else:
                    exchange.close()
            else:
                exchange.close()


_orthanc = _Upstream()
# What asyncio calls on a connection's protocol, named for scripts/dead_code.py.
_PROTOCOL_CALLBACKS = (_Exchange.connection_lost, _Exchange.buffer_updated)


def _headers(content_type: str, length: int) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(length).encode()),
        (b"cache-control", b"private, no-store"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]


async def serve(scope, receive, send) -> bool:
    """Answer the request here if the full path already allowed it; False to fall through."""
    route = _route(scope)
    if route is None:
        return False
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    user_id = grants.credential_user_id(headers)
    if user_id is None or not grants.study_granted(user_id, route.study_instance_uid):
        return False
    upstream = _upstream(scope, headers, route)
    if upstream is None:
        return False
    try:
        answer = await _orthanc.get(upstream)
    except Exception:  # noqa: BLE001 - any trouble: Django answers it, audited, as usual
        answer = None
    if answer is None:
        return False
    content_type, body = answer
    await send(
        {"type": "http.response.start", "status": 200, "headers": _headers(content_type, len(body))}
    )
    await send({"type": "http.response.body", "body": body})
    return True


def application(django_app):
    """Wrap Django's ASGI app: granted frames here, everything else to Django."""

    async def app(scope, receive, send):
        if scope["type"] == "http" and await serve(scope, receive, send):
            return
        await django_app(scope, receive, send)

    return app
