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


class _Upstream:
    """Keep-alive HTTP/1.1 connections to Orthanc on the event loop itself.

    A frame fetched with requests in a worker thread paid two thread hops and urllib3's
    machinery; here it is one write and one read on a connection already open. Only the
    plain case is handled (200, Content-Length, no transfer coding); anything else returns
    None and the request takes the full path.
    """

    def __init__(self):
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.loop = None

    async def _connection(self):
        loop = asyncio.get_running_loop()
        if self.loop is not loop:  # connections belong to one loop
            self.idle, self.loop = [], loop
        while self.idle:
            reader, writer = self.idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        url = urlsplit(answering_url())
        return await asyncio.wait_for(
            asyncio.open_connection(url.hostname, url.port or 80), CONNECT_TIMEOUT
        )

    async def get(self, upstream: Upstream) -> tuple[str, bytes] | None:
        """(Content-Type, body) of a 200 with a Content-Length, else None."""
        if urlsplit(answering_url()).scheme != "http":
            return None
        reader, writer = await self._connection()
        credentials = f"{settings.ORTHANC_USERNAME}:{settings.ORTHANC_PASSWORD}"
        lines = [
            f"GET {upstream.path} HTTP/1.1",
            f"Host: {urlsplit(answering_url()).netloc}",
            f"Authorization: Basic {base64.b64encode(credentials.encode()).decode()}",
            f"Forwarded: {upstream.forwarded}",
            "Accept-Encoding: identity",
            "Connection: keep-alive",
        ]
        if upstream.accept:
            lines.append(f"Accept: {upstream.accept}")
        ok = False
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            timeout = settings.ORTHANC_TIMEOUT
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
            status_line, *header_lines = head.decode("latin-1").split("\r\n")
            fields = {}
            for line in header_lines:
                name, _, value = line.partition(":")
                if name:
                    fields[name.strip().lower()] = value.strip()
            length = fields.get("content-length")
            if (
                status_line.split(" ")[1:2] != ["200"]
                or length is None
                or "transfer-encoding" in fields
                or fields.get("content-encoding", "identity") != "identity"
                or int(length) > settings.DICOMWEB_CHUNK_SIZE
            ):
                return None
            body = await asyncio.wait_for(reader.readexactly(int(length)), timeout)
            ok = fields.get("connection", "").lower() != "close"
            return fields.get("content-type", "application/octet-stream"), body
        finally:
            if ok:
                self.idle.append((reader, writer))
            else:
                writer.close()


_orthanc = _Upstream()


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
