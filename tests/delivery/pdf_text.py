"""Read back the text of a PDF fpdf2 wrote, the way a PDF reader does: through ToUnicode.

Enough for our own reports (one embedded TrueType font, literal-string Tj operators, no
object streams), so the tests need no poppler. A glyph that reaches the page but has no
Unicode mapping comes out as U+FFFD and fails the assertions, as it would fail a hospital
user copying the patient's name.
"""

from __future__ import annotations

import re
import zlib

# A stream's data is taken by its /Length, never by looking for "endstream": fpdf2 writes
# "stream\n", the bytes, "\nendstream", and compressed bytes end in a carriage return one
# time in 256, which a pattern allowing "\r\n" before endstream took as the line ending: the
# data lost its last byte, failed to inflate, and the page read as no text at all.
_STREAM_START = re.compile(rb">>\s*stream\r?\n")
_LENGTH = re.compile(rb"/Length\s+(\d+)(?!\s+\d+\s+R)")
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_SHOW = re.compile(rb"/([A-Za-z0-9]+)\s+[0-9.]+\s+Tf|\(((?:\\.|[^\\)])*)\)\s*Tj", re.S)
_OBJECT = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _streams(pdf: bytes) -> list[bytes]:
    out = []
    position = 0
    while (start := _STREAM_START.search(pdf, position)) is not None:
        dictionary = pdf[pdf.rfind(b" obj", 0, start.start()) : start.end()]
        length = _LENGTH.search(dictionary)
        if length is not None:
            end = start.end() + int(length.group(1))
        else:  # no direct /Length: up to the keyword, as a reader falls back to doing
            end = pdf.find(b"\nendstream", start.end())
            end = len(pdf) if end < 0 else end
        raw = pdf[start.end() : end]
        position = end
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return out


def _unescape(literal: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(literal):
        byte = literal[i : i + 1]
        if byte != b"\\":
            out += byte
            i += 1
            continue
        following = literal[i + 1 : i + 2]
        if following in _ESCAPES:
            out += _ESCAPES[following]
            i += 2
        elif following.isdigit():
            digits = re.match(rb"[0-7]{1,3}", literal[i + 1 : i + 4]).group(0)
            out.append(int(digits, 8) & 0xFF)
            i += 1 + len(digits)
        else:
            out += following
            i += 2
    return bytes(out)


def _utf16(hex_text: bytes) -> str:
    return bytes.fromhex(hex_text.decode("ascii")).decode("utf-16-be")


def fonts(pdf: bytes) -> list[str]:
    """Names of the fonts the PDF embeds (subset tag included)."""
    return [m.decode() for m in re.findall(rb"/FontName\s*/([^\s/>]+)", pdf)]


def _two_byte_fonts(pdf: bytes) -> set[str]:
    """Resource names of Type0 (CID) fonts: their strings are 2-byte glyph codes."""
    objects = {int(number): body for number, body in _OBJECT.findall(pdf)}
    names = set()
    for block in re.findall(rb"/Font\s*<<(.*?)>>", pdf, re.S):
        for name, number in re.findall(rb"/([A-Za-z0-9]+)\s+(\d+)\s+0\s+R", block):
            if b"/Type0" in objects.get(int(number), b""):
                names.add(name.decode())
    return names


def pdf_text(pdf: bytes) -> str:
    streams = _streams(pdf)
    cid_fonts = _two_byte_fonts(pdf)
    to_unicode: dict[int, str] = {}
    for stream in streams:
        if b"beginbfchar" in stream:
            for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
                for code, text in _BFCHAR.findall(block):
                    to_unicode[int(code, 16)] = _utf16(text)
    lines = []
    for stream in streams:
        if b"Tj" not in stream:
            continue
        font = ""
        for font_name, literal in _SHOW.findall(stream):
            if font_name:
                font = font_name.decode()
                continue
            raw = _unescape(literal)
            if font in cid_fonts:
                codes = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
                lines.append("".join(to_unicode.get(code, "\ufffd") for code in codes))
            else:
                lines.append(raw.decode("latin-1"))  # a core font (the Courier hash line)
    return "\n".join(lines)
