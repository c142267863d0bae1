"""The tests read PDFs back with ``tests/delivery/pdf_text.py``; it must read what fpdf2 wrote.

It once found a stream's end by the pattern "\\r?\\nendstream", so compressed data ending in a
carriage return (one document in 256, depending on its text) lost that byte, failed to
inflate, and the page read as empty: the Korean report test failed about once in fifteen runs.
"""

from __future__ import annotations

import zlib

from tests.delivery.pdf_text import _streams


def _compressed_ending_in_a_carriage_return() -> tuple[bytes, bytes]:
    for i in range(100_000):
        content = f"BT /F1 12 Tf 72 712 Td (line {i}) Tj ET".encode()
        data = zlib.compress(content)
        if data.endswith(b"\r"):
            return content, data
    raise AssertionError("no such content in 100,000 tries")


def _stream_object(number: int, data: bytes) -> bytes:
    # As fpdf2 writes it (fpdf/syntax.py): "stream", the bytes, "endstream", joined by "\n".
    head = f"{number} 0 obj\n<</Filter /FlateDecode /Length {len(data)}>>\n".encode()
    return head + b"stream\n" + data + b"\nendstream\nendobj\n"


def test_a_stream_ending_in_a_carriage_return_is_read_whole():
    content, data = _compressed_ending_in_a_carriage_return()
    other = zlib.compress(b"BT (second) Tj ET")
    pdf = b"%PDF-1.3\n" + _stream_object(4, data) + _stream_object(5, other) + b"%%EOF\n"
    assert _streams(pdf) == [content, b"BT (second) Tj ET"]


def test_a_stream_whose_data_holds_the_keyword_is_not_cut_there():
    data = b"raw bytes\nendstream\nstill the same stream"
    pdf = b"%PDF-1.3\n" + _stream_object(4, data).replace(b"/Filter /FlateDecode ", b"")
    assert _streams(pdf) == [data]
