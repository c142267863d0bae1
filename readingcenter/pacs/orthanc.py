"""The one module that talks HTTP to Orthanc.

One ``requests`` session (connection pooling matters: the follower makes several calls per
study), explicit timeouts on every call, and one error type, so that callers turn Orthanc
trouble into domain results instead of 500s. Nothing else in the project imports requests
for Orthanc.
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import urllib3
from django.conf import settings


class OrthancError(Exception):
    """Orthanc could not be reached or refused a call. ``status`` is None when unreachable."""

    def __init__(self, message: str, *, status: int | None = None, path: str = "", body: str = ""):
        super().__init__(message)
        self.status = status
        self.path = path
        # Orthanc's own error document; its "Details" says what a remote modality answered.
        self.body = body

    @property
    def details(self) -> str:
        """Orthanc's explanation of the error ("Details", else "Message"), or ""."""
        try:
            document = json.loads(self.body)
        except ValueError:
            return self.body[:300].strip()
        if not isinstance(document, dict):
            return ""
        return str(document.get("Details") or document.get("Message") or "")

    @property
    def is_not_found(self) -> bool:
        return self.status == 404


def _refusal(method: str, path: str, status: int, text: str) -> OrthancError:
    """The error for an answer with an error status, whichever way the call went."""
    return OrthancError(
        f"Orthanc answered {status} to {method} {path}: {text[:300].strip()}",
        status=status,
        path=path,
        body=text[:4000],
    )


@dataclass(frozen=True)
class ChangePage:
    changes: list[dict[str, Any]]
    done: bool
    last: int


def _never_sent(exc: requests.RequestException) -> bool:
    """Whether the request failed before reaching the server (safe to send again anywhere)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class OrthancClient:
    """One Orthanc, or the nodes of a cluster that share one index (any may answer).

    With several URLs the client sticks to one node and moves to the next when a node cannot
    be reached: a GET is sent again on the next node whatever went wrong, anything else only
    when it never reached the dead node (a POST that may have been applied is not repeated).
    """

    def __init__(
        self,
        url: str,
        username: str | None,
        password: str | None,
        timeout: float = 10.0,
        *,
        fallbacks: tuple[str, ...] | list[str] = (),
    ):
        self.urls = [url.rstrip("/")]
        self.urls += [u.rstrip("/") for u in fallbacks if u.rstrip("/") not in self.urls]
        self.timeout = timeout
        self.session = requests.Session()
        # Orthanc is ours and near: never route it through a proxy from the environment (and
        # skip requests' per-call scan of proxy variables, which costs more than the call).
        self.session.trust_env = False
        if username:
            self.session.auth = (username, password or "")
        # A pool at least as large as the number of threads that may share this client.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # The lean path for GETs (get_bytes): one kept-alive connection per thread.
        self._links = threading.local()
        self._lean_headers = {}
        if username:
            token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
            self._lean_headers["Authorization"] = f"Basic {token}"

    def __repr__(self) -> str:
        return f"OrthancClient({self.url})"

    @property
    def url(self) -> str:
        """The node this client talks to now."""
        return self.urls[0]

    # -- plumbing -----------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        tried = []
        while True:
            url = self.url
            try:
                response = self.session.request(method, f"{url}{path}", **kwargs)
                _answering[0] = url
                break
            except requests.RequestException as exc:
                tried.append(url)
                retry = method == "GET" or _never_sent(exc)
                if retry and len(tried) < len(self.urls):
                    with _rotate_lock:
                        if self.urls[0] == url:  # another thread may have moved on already
                            self.urls.append(self.urls.pop(0))
                    continue
                raise OrthancError(
                    f"Orthanc at {', '.join(tried)} is unreachable ({exc.__class__.__name__}); "
                    "check that it is running (make demo starts it) and ORTHANC_URL",
                    path=path,
                ) from exc
        if response.status_code >= 400:
            raise _refusal(method, path, response.status_code, response.text)
        return response

    def get_json(self, path: str, **params) -> Any:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        if query:
            path = f"{path}{'&' if '?' in path else '?'}{query}"
        body = self.get_bytes(path)
        try:
            return json.loads(body)
        except ValueError as exc:
            raise OrthancError(
                f"Orthanc sent something other than JSON for {path}", path=path
            ) from exc

    # -- the resources the reading center uses -------------------------------------------
    def system(self) -> dict:
        return self.get_json("/system")

    def changes(self, since: int, limit: int) -> ChangePage:
        body = self.get_json("/changes", since=since, limit=limit)
        return ChangePage(changes=body["Changes"], done=bool(body["Done"]), last=int(body["Last"]))

    def study(self, orthanc_id: str) -> dict:
        return self.get_json(f"/studies/{orthanc_id}")

    def study_series(self, orthanc_id: str) -> list[dict]:
        """The study's series, each with MainDicomTags and its Instances list."""
        return self.get_json(f"/studies/{orthanc_id}/series")

    def series(self, orthanc_id: str) -> dict:
        return self.get_json(f"/series/{orthanc_id}")

    def instance_metadata(self, orthanc_id: str) -> dict:
        return self.get_json(f"/instances/{orthanc_id}/metadata", expand="")

    def instance_header(self, orthanc_id: str):
        """The instance's DICOM header (pydicom Dataset), read without downloading the pixels."""
        from readingcenter.pacs.dicom_header import read_header

        path = f"/instances/{orthanc_id}/file"
        response = self.request("GET", path, stream=True)
        try:
            chunks = response.iter_content(64 * 1024)
            header = read_header(chunks)
            # Closing a half-read response drops the connection; for an ordinary slice,
            # reading the rest is cheaper than a new TCP connection for the next call.
            if int(response.headers.get("Content-Length") or 0) <= 4 * 1024 * 1024:
                for _ in chunks:
                    pass
            return header
        except requests.RequestException as exc:
            raise OrthancError(f"Orthanc broke off {path}: {exc}", path=path) from exc
        finally:
            response.close()

    def instance_file(self, orthanc_id: str) -> bytes:
        return self.get_bytes(f"/instances/{orthanc_id}/file")

    def get_bytes(self, path: str) -> bytes:
        """The body of a GET, over this thread's kept-alive connection to the current node.

        The reading center's GETs (the change log, studies, files) go this way; only the
        header read, which stops part way through a file, streams through requests.
        requests spends about a millisecond of Python on every call (building, merging and
        hooking the request, then reading the body 10 kB at a time): for a 40-slice series
        that was three times what Orthanc takes to send it (measured: 40 files of 512 kB in
        87 ms through ``Response.content``, 14 ms through http.client). An error status is
        raised as ``request`` raises it; a connection that fails, or https, goes the ordinary
        way, which knows the other nodes and turns every failure into an OrthancError.
        """
        url = self.url
        answer = self._lean_get(url, path) if url.startswith("http://") else None
        if answer is None:
            return self.request("GET", path).content
        _answering[0] = url
        status, body = answer
        if status >= 400:
            raise _refusal("GET", path, status, body.decode("utf-8", "replace"))
        return body

    def _lean_get(self, url: str, path: str) -> tuple[int, bytes] | None:
        """(status, body) of a GET on ``url``, or None for the ordinary way to take over.

        A kept connection that fails is tried once more on a new one (the server may have
        closed it while idle); a new one that fails, a timeout included, is left to
        ``request``, which moves to the next node.
        """
        parts = urlsplit(url)
        for _attempt in range(2):
            connection = getattr(self._links, "connection", None)
            reused = connection is not None and self._links.url == url
            if not reused:
                connection = http.client.HTTPConnection(
                    parts.hostname, parts.port, timeout=self.timeout
                )
                self._links.connection, self._links.url = connection, url
            try:
                connection.request("GET", parts.path + path, headers=self._lean_headers)
                response = connection.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._links.connection = None
                if reused and not isinstance(exc, TimeoutError):
                    continue
                return None
            if response.will_close:
                connection.close()
                self._links.connection = None
            return response.status, body
        return None

    def study_ids(self) -> list[str]:
        return self.get_json("/studies")

    # -- what the reading center writes (reports back to hospitals) ------------------------
    def upload_instance(self, data: bytes) -> dict:
        """Store one DICOM file: ``{"ID", "ParentStudy", "Status": "Success"|"AlreadyStored"}``.

        Such instances have Origin "RestApi", which the ingest follower counts as ours.
        """
        response = self.request(
            "POST", "/instances", data=data, headers={"Content-Type": "application/dicom"}
        )
        try:
            return response.json()
        except ValueError as exc:
            raise OrthancError("Orthanc sent something other than JSON for /instances") from exc

    def put_modality(self, name: str, *, aet: str, host: str, port: int) -> None:
        """Create or update a remote modality (a hospital's PACS) by its symbolic name."""
        self.request("PUT", f"/modalities/{name}", json={"AET": aet, "Host": host, "Port": port})

    def store_to_modality(self, name: str, resources: list[str], *, timeout: float) -> dict:
        """C-STORE the resources to the modality and wait for the answer (one association).

        ``timeout`` bounds the DICOM exchange; the HTTP call waits a little longer so that
        Orthanc, not the socket, reports a PACS that stopped answering.
        """
        response = self.request(
            "POST",
            f"/modalities/{name}/store",
            json={"Resources": resources, "Synchronous": True, "Timeout": max(1, round(timeout))},
            timeout=timeout + 10,
        )
        try:
            return response.json()
        except ValueError as exc:
            raise OrthancError(f"Orthanc sent something other than JSON for {name}/store") from exc


_local = threading.local()
_rotate_lock = threading.Lock()
_answering: list[str] = [""]  # the node that answered last, in any thread


def answering_url() -> str:
    """The Orthanc node that answered this process last (ORTHANC_URL before any call).

    For code that opens its own connections (the viewer's fast path): after a node dies,
    it follows the clients to the node that answers instead of failing first every time.
    """
    return _answering[0] or settings.ORTHANC_URL


def get_client() -> OrthancClient:
    """The process's client, built from settings on first use (never at import time).

    requests.Session is not documented as thread-safe, so each thread gets its own.
    """
    fallbacks = tuple(getattr(settings, "ORTHANC_FALLBACK_URLS", ()))
    key = (settings.ORTHANC_URL, fallbacks, settings.ORTHANC_USERNAME, settings.ORTHANC_PASSWORD)
    client = getattr(_local, "client", None)
    if client is None or getattr(_local, "key", None) != key:
        client = OrthancClient(
            settings.ORTHANC_URL,
            settings.ORTHANC_USERNAME,
            settings.ORTHANC_PASSWORD,
            timeout=settings.ORTHANC_TIMEOUT,
            fallbacks=fallbacks,
        )
        _local.client, _local.key = client, key
    return client
