"""What the full DICOMweb path (``dicomweb``) decided, for the fast path (``dicomweb_fast``).

Two tables, per process, of yes-answers only, each for ``DICOMWEB_GRANT_SECONDS``:

- studies: ``(user id, StudyInstanceUID)`` that ``study_instance_uid_visible`` allowed. A
  viewer asks for every frame separately, and asking the database each time cost about a third
  of a frame's time through the proxy. Only yes is remembered (a new privilege counts at once):
  a privilege withdrawn, or a study quarantined, stops the images of a study already open
  within that time.
- credentials: sha256 of the session cookie or API token the full path authenticated, with
  its user, so that the fast path knows who asks without the session and user rows.

The full path writes both; the fast path only reads them. Neither imports the other.
"""

from __future__ import annotations

import hashlib
import threading
import time

from django.conf import settings

# Past this many entries, expired ones are dropped before adding another.
_PRUNE_ABOVE = 10_000

# {(user id, StudyInstanceUID): expiry on the monotonic clock}.
_studies: dict[tuple[int, str], float] = {}
_studies_lock = threading.Lock()
# sha256(credential) -> (user id, expiry on the monotonic clock).
_credentials: dict[str, tuple[int, float]] = {}
_credentials_lock = threading.Lock()


# -- studies ------------------------------------------------------------------------------------


def study_granted(user_id: int, study_instance_uid: str) -> bool:
    return _studies.get((user_id, study_instance_uid), 0.0) > time.monotonic()


def study_grant(user_id: int, study_instance_uid: str) -> None:
    seconds = settings.DICOMWEB_GRANT_SECONDS
    if seconds <= 0:
        return
    now = time.monotonic()
    with _studies_lock:
        if len(_studies) > _PRUNE_ABOVE:
            for key in [k for k, expiry in _studies.items() if expiry <= now]:
                del _studies[key]
        _studies[(user_id, study_instance_uid)] = now + seconds


def study_revoke(user_id: int, study_instance_uid: str) -> None:
    _studies.pop((user_id, study_instance_uid), None)


def studies_forget() -> None:
    with _studies_lock:
        _studies.clear()


# -- credentials --------------------------------------------------------------------------------


def _fingerprint(kind: str, secret: str) -> str:
    return hashlib.sha256(f"{kind}:{secret}".encode()).hexdigest()


def credential(headers: dict[str, str]) -> str | None:
    """The credential the full path authenticates with, in the same order: token first.

    ``headers`` has lower-case names.
    """
    authorization = headers.get("authorization", "")
    if authorization:
        kind, _, key = authorization.partition(" ")
        # Any other scheme is the full path's to refuse.
        return _fingerprint("token", key.strip()) if kind.lower() == "token" and key else None
    name = settings.SESSION_COOKIE_NAME
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return _fingerprint("session", value)
    return None


def credential_remember(request, user) -> None:
    """Called by the full path once it authenticated ``request`` as ``user`` and allowed a
    study: the same credential may fetch that study's frames on the fast path for the grant
    time."""
    seconds = settings.DICOMWEB_GRANT_SECONDS
    if seconds <= 0:
        return
    found = credential({k.lower(): v for k, v in request.headers.items()})
    if found is None:
        return
    now = time.monotonic()
    with _credentials_lock:
        if len(_credentials) > _PRUNE_ABOVE:
            for key in [k for k, (_, expiry) in _credentials.items() if expiry <= now]:
                del _credentials[key]
        _credentials[found] = (user.pk, now + seconds)


def credential_user_id(headers: dict[str, str]) -> int | None:
    """The user a remembered credential in ``headers`` (lower-case names) belongs to."""
    found = credential(headers)
    if found is None:
        return None
    user_id, expiry = _credentials.get(found, (None, 0.0))
    return user_id if expiry > time.monotonic() else None


def credentials_forget() -> None:
    with _credentials_lock:
        _credentials.clear()


def forget_all() -> None:
    studies_forget()
    credentials_forget()
