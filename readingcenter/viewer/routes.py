"""What a request under the DICOMweb root asks for, and what to ask Orthanc for it.

Shared by the full path (``dicomweb``, which decides) and the fast path (``dicomweb_fast``,
which only answers what was decided): both must read a path the same way, or the fast path
could answer a path the full path never authorised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from readingcenter.errors import NotFound

# Orthanc's DICOMweb root, and ours: the same, so that BulkDataURIs need no rewriting.
ROOT = "/dicom-web/"
SEARCH_LEVELS = ("studies", "series", "instances")
# Connect quickly or say Orthanc is down; reading may take as long as a slow disk needs.
CONNECT_TIMEOUT = 3.05

# A DICOM UID: digits and dots, at most 64 characters (PS3.5 9.1).
_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")
# What a DICOMweb path segment under a study is made of: UIDs, resource names, frame lists
# (1,2,3) and bulk-data tags. Anything else (%, .., empty segments) is refused, so that the
# path Orthanc resolves is the path we authorised.
_SEGMENT = re.compile(r"[A-Za-z0-9_,-]+(?:\.[A-Za-z0-9_,-]+)*")


@dataclass(frozen=True)
class Route:
    """What a request under the DICOMweb root asks for."""

    path: str
    # The study the path names (``studies/{uid}/...``); empty for a search across studies.
    study_instance_uid: str = ""
    # "studies", "series" or "instances" for a search across studies.
    search_level: str = ""

    @property
    def lists_series(self) -> bool:
        """``studies/{uid}/series``: what a viewer asks first when it opens a study."""
        return self.path == f"studies/{self.study_instance_uid}/series"


def parse_route(path: str) -> Route:
    segments = path.split("/")
    if segments and segments[-1] == "":
        segments.pop()
    if not segments or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise NotFound(_("No such DICOMweb resource."))
    clean = "/".join(segments)
    if len(segments) == 1 and segments[0] in SEARCH_LEVELS:
        return Route(path=clean, search_level=segments[0])
    if segments[0] == "studies" and _UID.fullmatch(segments[1]) and len(segments[1]) <= 64:
        return Route(path=clean, study_instance_uid=segments[1])
    raise NotFound(_("No such DICOMweb resource."))


@dataclass(frozen=True)
class Upstream:
    """What to ask Orthanc, taken from the request while it is at hand."""

    # Below Orthanc's root, with the query string exactly as the viewer sent it.
    path: str
    accept: str | None
    forwarded: str

    @classmethod
    def of(cls, request, route: Route) -> Upstream:
        query = request.META.get("QUERY_STRING", "")
        return cls(
            path=f"{ROOT}{route.path}" + (f"?{query}" if query else ""),
            accept=request.headers.get("Accept"),
            # Orthanc writes BulkDataURIs from this (it ignores X-Forwarded-Host); it does not
            # unquote values, so host:port goes bare.
            forwarded=f"host={request.get_host()};proto={request.scheme}",
        )
