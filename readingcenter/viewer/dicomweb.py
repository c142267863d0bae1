"""The authorizing DICOMweb proxy between the viewer (OHIF) and Orthanc.

The browser never talks to Orthanc: it asks us at ``/dicom-web/...`` (the same path as
Orthanc's DICOMweb root, so the ``BulkDataURI``s Orthanc writes from our ``Forwarded`` header
point back at us), we decide, and we relay Orthanc's answer with our credentials.

* A path naming a study (``studies/{StudyInstanceUID}/...``) is relayed only when
  ``study_instance_uid_visible`` says so; otherwise 404, the same as a study that does not exist.
* A search across studies (``studies``, ``series``, ``instances`` with a query) is read whole
  and filtered to the entries of studies the user may see: it is never relayed as it came.
* Everything else under the root (Orthanc's own extensions, ``..`` tricks) is 404.

Under ASGI, Django reads a *synchronous* streaming body into one list before sending it, so
the images are relayed through an asynchronous iterator that takes large chunks from Orthanc
in a worker thread; nothing holds a whole study in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import requests
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.exceptions import AuthenticationFailed

from readingcenter.accounts.authentication import ApiTokenAuthentication
from readingcenter.accounts.models import Scope
from readingcenter.audit.models import AuditEvent, Outcome
from readingcenter.audit.services import audit_read_record, audit_record
from readingcenter.errors import DomainError, NotFound
from readingcenter.pacs.orthanc import OrthancError, get_client
from readingcenter.pacs.streams import read_in_thread
from readingcenter.studies.models import Study
from readingcenter.studies.selectors import (
    study_instance_uid_visible,
    visible_study_instance_uids,
)
from readingcenter.viewer import grants
from readingcenter.viewer.routes import CONNECT_TIMEOUT, ROOT, Route, Upstream, parse_route

logger = logging.getLogger(__name__)

METHODS = ("GET", "HEAD")
OPEN_ACTION = "study.images.open"
SEARCH_ACTION = "study.images.search"
READ_ACTION = "study.images.read"

_STUDY_KEYS = ("StudyInstanceUID", "0020000D")
_ORTHANC_MESSAGE = re.compile(r'"Message"\s*:\s*"([^"]{1,200})"')


# -- who is asking --------------------------------------------------------------------------


def authenticate(request):
    """The user behind an API token or the session; None for an anonymous caller.

    Token first, as in the API: a hospital system sends ``Authorization: Token ...``.
    """
    try:
        result = ApiTokenAuthentication().authenticate(request)
    except AuthenticationFailed as exc:
        raise DomainError("authentication_failed", str(exc.detail), status=401) from None
    if result is not None:
        user, token = result
        if not {Scope.READING, Scope.PORTAL_READ} & set(token.scopes):
            raise DomainError(
                "token_scope",
                _(
                    "This API token (%(prefix)s…) may not read images: it needs the scope "
                    "'reading' or 'portal:read'."
                )
                % {"prefix": token.prefix},
                status=403,
            )
        return user
    user = request.user
    return user if user.is_authenticated else None


def authorize(request, path: str):
    """Who asks and what for; raises DomainError (401, 404: audited) when they may not.

    One synchronous call for all the database work of a request, so that an asynchronous view
    pays one thread hop for it.
    """
    user = authenticate(request)
    if user is None:
        raise DomainError(
            "not_authenticated", _("Log in, or send Authorization: Token <key>."), status=401
        )
    try:
        route = parse_route(path)
    except NotFound:
        audit_not_found(request, user=user, path=path)
        raise
    uid = route.study_instance_uid
    # Opening a study is always decided afresh (and audited); the frames that follow it, by
    # the hundred, may rely on that answer for a few seconds.
    if uid and not (not route.lists_series and grants.study_granted(user.pk, uid)):
        if not study_instance_uid_visible(user=user, study_instance_uid=uid):
            grants.study_revoke(user.pk, uid)
            audit_not_found(request, user=user, path=path, study_instance_uid=uid)
            # Another hospital's study, a quarantined one and a missing one look the same.
            raise NotFound(_("No such study."))
        grants.study_grant(user.pk, uid)
        # The same credential may now fetch this study's frames on the fast path.
        grants.credential_remember(request, user)
    if route.lists_series:
        audit_opened(request, user=user, study_instance_uids=[uid])
    return user, route


def audit_not_found(request, *, user, path: str, study_instance_uid: str = "") -> None:
    audit_record(
        actor=user,
        action=READ_ACTION,
        outcome=Outcome.NOT_FOUND,
        target_type="study_instance_uid" if study_instance_uid else "",
        target_id=study_instance_uid,
        request=request,
        detail={"path": f"{ROOT}{path}"[:300]},
    )


def _lock_key(user, study_instance_uid: str) -> tuple[int, int]:
    crc = zlib.crc32(study_instance_uid.encode())
    return user.pk & 0x7FFFFFFF, crc - 2**32 if crc >= 2**31 else crc


def audit_opened(request, *, user, study_instance_uids) -> None:
    """One line per study opened: not per frame, and once per window per user and study.

    A viewer asks several things when it opens one study (the study by UID, its series list);
    they may arrive together, so the check and the write hold a lock for this user and UID.
    """
    since = timezone.now() - timedelta(seconds=settings.DICOMWEB_AUDIT_WINDOW)
    for uid in sorted(set(study_instance_uids)):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("select pg_advisory_xact_lock(%s, %s)", _lock_key(user, uid))
            studies = list(Study.objects.filter(study_instance_uid=uid))
            recent = AuditEvent.objects.filter(
                target_type=Study._meta.label_lower,
                target_id__in=[str(s.pk) for s in studies],
                actor=user,
                action=OPEN_ACTION,
                at__gte=since,
            )
            if not studies or recent.exists():
                continue
            # Normally one row; every row carrying the UID is named, each with its patient.
            for study in studies:
                audit_record(
                    actor=user,
                    action=OPEN_ACTION,
                    target=study,
                    hospital=study.hospital_id,
                    patient_id=study.patient_id,
                    request=request,
                    detail={"study_instance_uid": uid},
                )


# -- searches across studies ---------------------------------------------------------------


def _study_uid_of(entry) -> str | None:
    try:
        return entry["0020000D"]["Value"][0]
    except (KeyError, IndexError, TypeError):
        return None


def _named_study_uids(request) -> set[str]:
    named = set()
    for key in _STUDY_KEYS:
        for value in request.GET.getlist(key):
            named.update(v.strip() for v in re.split(r"[,\\]", value) if v.strip())
    return named


def filter_search(request, *, user, route: Route, body: bytes) -> bytes:
    """Keep the entries of studies the user may see; audit the search (and what it opened)."""
    try:
        entries = json.loads(body)
    except ValueError:
        entries = None
    if not isinstance(entries, list):
        raise DomainError(
            "orthanc_error", _("Orthanc answered the search with no list."), status=502
        )
    visible = visible_study_instance_uids(
        user=user, study_instance_uids={_study_uid_of(e) for e in entries}
    )
    # An entry without a StudyInstanceUID cannot be checked, so it is not shown.
    kept = [e for e in entries if _study_uid_of(e) in visible]
    opened = _named_study_uids(request) & visible if route.search_level == "studies" else set()
    if not opened:
        kept = _same_patient_as_open_study(request, user=user, entries=kept)
    if opened:
        audit_opened(request, user=user, study_instance_uids=opened)
    else:
        audit_read_record(
            actor=user,
            action=SEARCH_ACTION,
            target_type="study",
            request=request,
            detail={
                "level": route.search_level,
                "query": request.GET.dict(),
                "results": len(kept),
                "withheld": len(entries) - len(kept),
            },
        )
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":")).encode()


def _same_patient_as_open_study(request, *, user, entries: list) -> list:
    """A viewer that has a study open asks for the patient's other studies by PatientID (its
    priors panel). One PatientID can be two people at two hospitals (or two issuers), and a
    reader privileged at both must not be offered the other one's images as this patient's:
    keep the studies of the open study's patient (hospital, issuer, id) only."""
    patient_id = (request.GET.get("PatientID") or request.GET.get("00100020") or "").strip()
    if not patient_id or not entries:
        return entries
    since = timezone.now() - timedelta(hours=1)
    last = (
        AuditEvent.objects.filter(
            actor=user, action=OPEN_ACTION, at__gte=since, target_type=Study._meta.label_lower
        )
        .order_by("-at")
        .values_list("target_id", flat=True)
        .first()
    )
    open_study = Study.objects.filter(pk=last, patient_id=patient_id).first() if last else None
    if open_study is None:
        return entries  # a search of its own, not the open study's priors
    patient = (open_study.hospital_id, open_study.issuer_of_patient_id, patient_id)
    same = set(
        Study.objects.filter(
            hospital_id=patient[0], issuer_of_patient_id=patient[1], patient_id=patient_id,
            study_instance_uid__in={_study_uid_of(e) for e in entries},
        ).values_list("study_instance_uid", flat=True)
    )  # fmt: skip
    return [e for e in entries if _study_uid_of(e) in same]


# -- Orthanc ----------------------------------------------------------------------------------


@dataclass
class Answer:
    """Orthanc's answer: its headers, and its body when it was small enough to read at once."""

    response: requests.Response
    body: bytes | None = None

    @property
    def decoded(self) -> bool:
        # requests undoes a Content-Encoding: what it hands over is no longer what the
        # header (and Content-Length) describe.
        return self.response.headers.get("Content-Encoding", "identity") != "identity"


def fetch(upstream: Upstream, *, read_up_to: int | None) -> Answer:
    """Ask Orthanc (blocking: run it in a thread).

    A body of at most ``read_up_to`` bytes (None: any size) is read in the same call, which
    spares a frame (512 KiB for a CT slice) the extra hops of streaming; a larger one is left
    to stream.
    """
    client = get_client()
    headers = {
        # None drops the session's default: the viewer's Accept, or none, exactly as sent.
        "Accept": upstream.accept,
        # Images are compressed already, or are not worth it on loopback; and a body that
        # requests would decompress could not be relayed with Orthanc's Content-Length.
        "Accept-Encoding": "identity",
        "Forwarded": upstream.forwarded,
    }
    try:
        response = client.request(
            "GET",
            upstream.path,
            headers=headers,
            stream=True,
            timeout=(CONNECT_TIMEOUT, settings.ORTHANC_TIMEOUT),
        )
    except OrthancError as exc:
        raise _domain_error(exc) from exc
    length = response.headers.get("Content-Length")
    if read_up_to is None or (length is not None and int(length) <= read_up_to):
        return Answer(response, read_body(response))
    return Answer(response)


def _domain_error(exc: OrthancError) -> DomainError:
    """Orthanc's trouble in our words: never its address, never a 500."""
    if exc.status is None:
        if isinstance(exc.__cause__, requests.Timeout):
            return DomainError(
                "orthanc_timeout", _("The image archive did not answer in time."), status=504
            )
        return DomainError(
            "orthanc_unavailable", _("The image archive is not reachable."), status=502
        )
    if exc.status == 404:
        return NotFound(_("No such DICOMweb resource."))
    if exc.status < 500:
        # Orthanc's own words ("Parameter out of range") say what was wrong with the request.
        said = _ORTHANC_MESSAGE.search(str(exc))
        message = said.group(1) if said else _("The image archive refused the request.")
        return DomainError("dicomweb_refused", message, status=exc.status)
    return DomainError(
        "orthanc_error",
        _("The image archive failed (%(status)s).") % {"status": exc.status},
        status=502,
    )


_READ_SIZE = 1024 * 1024


def read_body(response: requests.Response) -> bytes:
    try:
        # In large reads: requests' own .content reads 10 KiB at a time, 52 Python-level
        # reads for one CT frame.
        return b"".join(response.iter_content(_READ_SIZE))
    except requests.RequestException as exc:
        raise DomainError(
            "orthanc_unavailable", _("The image archive broke off."), status=502
        ) from exc
    finally:
        response.close()


async def relay(response: requests.Response, chunk_size: int) -> AsyncIterator[bytes]:
    """Orthanc's body, chunk by chunk, each read in a worker thread (never the event loop)."""
    chunks = response.iter_content(chunk_size)
    try:
        async for chunk in read_in_thread(partial(next, chunks, b"")):
            yield chunk
    except requests.RequestException:
        # The headers are sent: all we can do is cut the connection so the viewer sees an
        # incomplete answer rather than a short one.
        logger.warning("Orthanc broke off %s mid-answer", response.request.path_url)
        raise
    finally:
        response.close()


_RELAYED_HEADERS = ("Content-Type", "Content-Length")


def relay_response(answer: Answer, *, head: bool) -> HttpResponse:
    response = answer.response
    if head:
        response.close()
        relayed: HttpResponse = HttpResponse(status=response.status_code)
    elif answer.body is not None:
        relayed = HttpResponse(answer.body, status=response.status_code)
    else:
        relayed = StreamingHttpResponse(
            relay(response, settings.DICOMWEB_CHUNK_SIZE), status=response.status_code
        )
        # Closed on the way out even if the body is never iterated (client gone first).
        relayed._resource_closers.append(response.close)
    for name in _RELAYED_HEADERS:
        if name in response.headers and not (answer.decoded and name == "Content-Length"):
            relayed[name] = response.headers[name]
    return relayed


def search_response(body: bytes, *, content_type: str, head: bool) -> HttpResponse:
    response = HttpResponse(b"" if head else body, content_type=content_type)
    response["Content-Length"] = str(len(body))
    return response


def error_response(exc: DomainError) -> JsonResponse:
    # The message in the active language (a lazy one made text now); the code as raised.
    response = JsonResponse({"code": exc.code, "detail": str(exc.message)}, status=exc.status_code)
    if exc.status_code == 401:
        response["WWW-Authenticate"] = "Token"
    return response


def private(response: HttpResponse) -> HttpResponse:
    # Patient images: never left in a shared workstation's disk cache or a proxy's.
    response["Cache-Control"] = "private, no-store"
    return response


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";")[0].strip().lower()
    return media_type in {"application/dicom+json", "application/json"}


# -- the request, start to end ---------------------------------------------------------------


async def handle(request, path: str) -> HttpResponse:
    """Answer one request under the DICOMweb root (``path`` is what follows it)."""
    if request.method not in METHODS:
        response = error_response(
            DomainError(
                "method_not_allowed",
                _("The viewer's DICOMweb only reads (%(methods)s).")
                % {"methods": ", ".join(METHODS)},
                status=405,
            )
        )
        response["Allow"] = ", ".join(METHODS)
        return response
    head = request.method == "HEAD"
    try:
        user, route = await sync_to_async(authorize)(request, path)
        # A search is filtered, so read whole; for HEAD, the headers are all there is to get.
        read_up_to = None if route.search_level else 0 if head else settings.DICOMWEB_CHUNK_SIZE
        try:
            answer = await asyncio.to_thread(
                fetch, Upstream.of(request, route), read_up_to=read_up_to
            )
        except NotFound:
            # Visible to us, absent from Orthanc (or a series or instance that is not there).
            await sync_to_async(audit_not_found)(
                request, user=user, path=path, study_instance_uid=route.study_instance_uid
            )
            raise
        if not route.search_level:
            return private(relay_response(answer, head=head))
        content_type = answer.response.headers.get("Content-Type", "")
        if not is_json(content_type):
            raise DomainError(
                "search_needs_json",
                _(
                    "Searches across studies are filtered for you, which needs "
                    "Accept: application/dicom+json."
                ),
                status=406,
            )
        filtered = await sync_to_async(filter_search)(
            request, user=user, route=route, body=answer.body
        )
        return private(search_response(filtered, content_type=content_type, head=head))
    except DomainError as exc:
        return private(error_response(exc))
