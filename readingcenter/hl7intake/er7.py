"""HL7 v2 messages as hospitals' engines send them: MLLP frames, MSH-18 character sets, ACKs.

A message arrives as bytes. Its character set is named inside it (MSH-18), so the MSH segment
is read as bytes first (every HL7 character set keeps ASCII's bytes for the delimiters and
for MSH's own fields), and only then is the whole message decoded. An engine that leaves
MSH-18 empty uses the hospital's configured default; one that names a set we cannot read is
refused (AR) rather than read wrong, since a mis-decoded patient name is worse than none.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import hl7

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c\x0d"

# HL7 table 0211 (and what engines write in practice) -> Python codecs.
CHARSETS = {
    "": None,
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
    "8859/1": "latin-1",
    "8859/2": "iso8859-2",
    "8859/5": "iso8859-5",
    "8859/7": "iso8859-7",
    "8859/15": "iso8859-15",
    "KS X 1001": "euc-kr",
    "EUC-KR": "euc-kr",
    "GB 18030-2000": "gb18030",
    "GB18030": "gb18030",
    "GB2312": "gb2312",
    "BIG-5": "big5",
    "ISO IR87": "iso2022_jp",
    "ISO IR192": "utf-8",
}


class MessageRefused(Exception):
    """A message we cannot take: ``ack`` is AR (rejected as sent) or AE (content wrong).

    ``code`` is our stable error code; ``hl7_error`` the HL7 table 0357 code for ERR-3.
    """

    def __init__(self, ack: str, code: str, text: str, hl7_error: str = "207"):
        super().__init__(text)
        self.ack, self.code, self.text, self.hl7_error = ack, code, text, hl7_error


@dataclass
class Header:
    """What MSH says, read from the raw bytes before the message is decoded. ``Header()`` is
    what an ACK to a message without a readable MSH answers to."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_type: str = ""  # "ORM^O01"
    control_id: str = ""
    version: str = "2.5.1"
    charset: str = ""  # MSH-18 as written ("" when absent)

    @property
    def event(self) -> str:
        """``ORM^O01`` -> ``ORM^O01``; ``ADT^A08^ADT_A01`` -> ``ADT^A08`` (the structure
        component says nothing the first two do not)."""
        return "^".join(self.message_type.split("^")[:2])


def frames(buffer: bytearray) -> list[bytes]:
    """Take every complete MLLP frame out of ``buffer`` (what is left is the next frame's
    beginning); bytes before a start block are noise a broken engine sent, and dropped."""
    messages = []
    while True:
        start = buffer.find(START_BLOCK)
        if start < 0:
            buffer.clear()
            return messages
        end = buffer.find(END_BLOCK, start)
        if end < 0:
            del buffer[:start]
            return messages
        messages.append(bytes(buffer[start + 1 : end]))
        del buffer[: end + len(END_BLOCK)]


def frame(message: str, charset: str = "utf-8") -> bytes:
    return START_BLOCK + message.encode(charset, errors="replace") + END_BLOCK


def read_header(raw: bytes) -> Header:
    """MSH from the raw bytes; refuses (AR) a message that does not begin with one."""
    text = raw.lstrip(b"\r\n ")
    if not text.startswith(b"MSH") or len(text) < 8:
        raise MessageRefused("AR", "no_msh", "The message does not begin with an MSH segment.",
                             "100")  # fmt: skip
    separator = text[3:4]
    segment = text.split(b"\r", 1)[0].split(b"\n", 1)[0]
    fields = segment.split(separator)
    # fields[0] is "MSH", fields[1] the encoding characters (MSH-2): MSH-n is fields[n - 1].

    def field(n: int) -> str:
        value = fields[n - 1] if len(fields) >= n else b""
        return value.decode("ascii", errors="replace").strip()

    component = field(2)[:1] or "^"
    return Header(
        sending_application=field(3).split(component)[0],
        sending_facility=field(4).split(component)[0],
        receiving_application=field(5).split(component)[0],
        receiving_facility=field(6).split(component)[0],
        message_type=field(9),
        control_id=field(10),
        version=field(12).split(component)[0],
        charset=field(18).split(field(2)[1:2] or "~")[0].strip(),
    )


def decode(raw: bytes, charset: str) -> str:
    """The message as text in the character set it names (or the hospital's default)."""
    codec = CHARSETS.get(charset.upper().strip())
    if codec is None and charset.strip():
        raise MessageRefused(
            "AR", "unsupported_charset",
            f"Character set {charset!r} (MSH-18) is not supported: send UNICODE UTF-8, 8859/1, "
            "KS X 1001, GB 18030-2000 or BIG-5.", "203",
        )  # fmt: skip
    try:
        text = raw.decode(codec or "ascii")
    except UnicodeDecodeError as exc:
        raise MessageRefused(
            "AR", "wrong_charset",
            f"The message is not valid {charset or 'ASCII'} (MSH-18) at byte {exc.start}: "
            "send it in the character set MSH-18 names.", "203",
        ) from None  # fmt: skip
    # Segments end with CR; engines that write LF or CRLF are common enough to accept.
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r") + "\r"


def parse(text: str) -> hl7.Message:
    try:
        return hl7.parse(text)
    except (hl7.ParseException, IndexError, ValueError) as exc:
        raise MessageRefused("AR", "unparseable", f"The message cannot be parsed: {exc}",
                             "102") from None  # fmt: skip


def value(message: hl7.Message, segment, field: int, component: int = 1, repetition: int = 0):
    """One component of one field of a segment, unescaped; "" where absent."""
    try:
        found = segment[field]
    except (IndexError, KeyError):
        return ""
    text = str(found)
    if not text:
        return ""
    repetitions = text.split(message.separators[2])
    if repetition >= len(repetitions):
        return ""
    components = repetitions[repetition].split(message.separators[3])
    if component > len(components):
        return ""
    return message.unescape(components[component - 1]).strip()


def segments(message: hl7.Message, name: str) -> list:
    return [s for s in message if str(s[0]) == name]


_ack_ids = itertools.count(1)


def ack(header: Header, code: str, text: str = "", *, error: str = "", hl7_error: str = "") -> str:
    """The ACK for ``header``'s message: MSA-1 ``code``, MSA-2 its control id, MSA-3 why."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S+0000")
    trigger = header.message_type.split("^")[1] if "^" in header.message_type else ""
    clean = escape(text)[:800]
    lines = [
        "|".join([
            "MSH", "^~\\&", "READINGCENTER", "READINGCENTER",
            escape(header.sending_application), escape(header.sending_facility), now, "",
            f"ACK^{trigger}^ACK" if trigger else "ACK", f"RC{now[:14]}{next(_ack_ids):06d}",
            "P", header.version or "2.5.1", "", "", "", "", "", header.charset,
        ]).rstrip("|"),
        f"MSA|{code}|{escape(header.control_id)}|{clean}".rstrip("|"),
    ]  # fmt: skip
    if code != "AA":
        lines.append(f"ERR|||{hl7_error or '207'}^{escape(error)}^HL70357|E||||{clean}")
    return "\r".join(lines) + "\r"


def escape(text: str) -> str:
    """Text as an HL7 field value: delimiters escaped, line breaks as spaces, UTF-8 kept."""
    escaped = (
        str(text)
        .replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )
    # CR ends a segment and the MLLP frame bytes end a message: none may appear in a value.
    return "".join(" " if ch in "\r\n\t" else ch for ch in escaped if ch >= " " or ch in "\r\n\t")
