"""Response bodies that stream under ASGI without holding the whole body in memory.

Django's ASGI handler consumes a *synchronous* streaming body with ``sync_to_async(list)``:
the whole file or the whole Orthanc answer is read into memory before the first byte goes
out. These bodies are asynchronous iterators instead, each blocking read done in a worker
thread, in chunks large enough that the hop to the thread costs little.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path

from django.http import FileResponse

FILE_BLOCK_SIZE = 512 * 1024


async def read_in_thread(read: Callable[[], bytes]) -> AsyncIterator[bytes]:
    """Yield ``read()`` until it returns nothing, each call in a worker thread."""
    while chunk := await asyncio.to_thread(read):
        yield chunk


def file_response(path: Path, *, content_type: str) -> FileResponse:
    """A FileResponse (Content-Length, closing the file) whose body is read asynchronously."""
    handle = path.open("rb")
    response = FileResponse(handle, content_type=content_type)
    # FileResponse registered the file's close; only the way it is read changes.
    response.streaming_content = read_in_thread(partial(handle.read, FILE_BLOCK_SIZE))
    return response
