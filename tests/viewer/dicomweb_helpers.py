"""What the viewer and DICOMweb proxy tests share: a study in Orthanc and in our database,
Orthanc's own answer to compare with, and the bodies and parts of streamed answers."""

from __future__ import annotations

import re
from pathlib import Path

from asgiref.sync import async_to_sync

from readingcenter.studies.models import Study
from tests.pacs.dicom_files import FLAIR, c_store, follow_until, new_study

FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
JSON = "application/dicom+json"


def store_study(orthanc, directory: Path, *, aet: str, sources=None, **tags) -> Study:
    """A study C-STOREd by a hospital and seen by the follower (receiving is enough to view)."""
    uid, files = new_study(sources or FLAIR[:3], directory, **tags)
    c_store(files, port=orthanc.config.dicom_port, calling_aet=aet)
    return follow_until(lambda: Study.objects.filter(study_instance_uid=uid).first())


def body(response) -> bytes:
    """The whole body, streamed (asynchronously, as under ASGI) or not."""
    if not response.streaming:
        return response.content

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(collect)()


def multipart_parts(content_type: str, data: bytes) -> list[bytes]:
    """The payloads of a multipart/related body (headers of each part dropped)."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type).group(1).encode()
    parts = []
    for chunk in data.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        _, _, payload = chunk.partition(b"\r\n\r\n")
        parts.append(payload.removesuffix(b"\r\n"))
    return parts


def direct(
    orthanc, path: str, *, accept: str = JSON, forwarded: str = "host=testserver;proto=http"
):
    """Orthanc's own answer, asked the way the proxy asks it."""
    response = orthanc.client().session.get(
        f"{orthanc.config.url}/dicom-web/{path}",
        headers={"Accept": accept, "Forwarded": forwarded, "Accept-Encoding": "identity"},
        timeout=10,
    )
    response.raise_for_status()
    return response
