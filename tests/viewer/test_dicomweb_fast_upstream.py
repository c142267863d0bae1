"""The fast path's connections to Orthanc: a plain answer (200, Content-Length) is read whole,
however it arrives, over one kept-alive connection; anything else is None (the request then
takes the full path) and that connection is not used again."""

from __future__ import annotations

import asyncio

import pytest

from readingcenter.viewer import dicomweb_fast
from readingcenter.viewer.routes import Upstream

FRAME = bytes(range(256)) * 2048  # 512 KiB


def _ok(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: application/octet-stream", *extra]
    return ("\r\n".join([*head, f"Content-Length: {len(body)}"]) + "\r\n\r\n").encode() + body


async def _exchange(answers: list[bytes], *, pieces: int = 1):
    """Ask a scripted Orthanc once per answer; (what came back, connections it was asked on)."""
    script = iter(answers)
    connections = []

    async def orthanc(reader, writer):
        connections.append(writer)
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            answer = next(script)
            step = -(-len(answer) // pieces)
            for start in range(0, len(answer), step):
                writer.write(answer[start : start + step])
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(orthanc, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    upstream = dicomweb_fast._Upstream()
    got = []
    try:
        dicomweb_fast.answering_url = lambda: f"http://127.0.0.1:{port}"
        for _ in answers:
            try:
                got.append(await upstream.get(Upstream("/dicom-web/x", None, "host=h;proto=http")))
            except ConnectionError:
                got.append("broken")
    finally:
        server.close()
    return got, len(connections)


@pytest.fixture(autouse=True)
def _restore_answering_url(monkeypatch):
    # _exchange points the fast path at its scripted Orthanc; put the real lookup back after.
    monkeypatch.setattr(dicomweb_fast, "answering_url", dicomweb_fast.answering_url)


@pytest.mark.parametrize("pieces", [1, 3, 700])
def test_frames_are_read_whole_over_one_kept_connection(pieces):
    got, connections = asyncio.run(_exchange([_ok(FRAME), _ok(b"")] * 2, pieces=pieces))
    kind = "application/octet-stream"
    assert got == [(kind, FRAME), (kind, b""), (kind, FRAME), (kind, b"")]
    assert connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\n\r\n{}",
    ],
    ids=["not 200", "chunked", "coded", "no length"],
)
def test_anything_but_a_plain_answer_is_none_and_its_connection_is_not_reused(answer):
    got, connections = asyncio.run(_exchange([answer, _ok(FRAME)]))
    assert got == [None, ("application/octet-stream", FRAME)]
    assert connections == 2


def test_a_body_larger_than_a_chunk_is_left_to_the_full_path(settings):
    settings.DICOMWEB_CHUNK_SIZE = 1024
    got, _ = asyncio.run(_exchange([_ok(FRAME)]))
    assert got == [None]


def test_more_bytes_than_the_answer_said_end_the_connection():
    got, connections = asyncio.run(_exchange([_ok(b"abc") + b"surplus", _ok(b"abc")]))
    assert got[0] in (None, ("application/octet-stream", b"abc"))  # the surplus may come later
    assert got[1] == ("application/octet-stream", b"abc")
    assert connections == 2
