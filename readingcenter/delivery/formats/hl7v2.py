"""The signed report as an HL7 v2.5.1 ORU^R01, its ACK, and an MLLP client to carry it.

Hospital interface engines still take radiology results this way. The message is UTF-8
(MSH-18 ``UNICODE UTF-8``) so Korean and Chinese text travel as written, not as ``\\X..\\``
hex escapes; the five HL7 delimiters in any text are escaped (``\\F\\ \\S\\ \\T\\ \\R\\ \\E\\``).
Report text goes as TX lines, one OBX per line, grouped by section in OBX-4; the PDF, when
given, as an ED OBX in base64. The control id (MSH-10) is derived from the delivery's
idempotency key, so every retry of a version carries the same id and the receiver can drop
duplicates by it; the ACK must name that id back (MSA-2). The notes (NTE) are in the
report's language; the codes (LOINC in OBX-3, HL7 tables) are the same in every language.
"""

from __future__ import annotations

import base64
import socket
import time
from dataclasses import dataclass

from django.utils.translation import gettext as _

from readingcenter.delivery.document import AIFinding, ReportDocument
from readingcenter.delivery.formats.common import (
    REPORT_CODE,
    ai_line,
    check_document,
    critical_text,
    device_uid,
    in_report_language,
    local,
    meaning_words,
    pn_groups,
    short_hash,
    status_sentence,
    utc_offset,
)

# The ER7 primitives both directions share: the frame bytes and field escaping.
from readingcenter.hl7intake.er7 import END_BLOCK, START_BLOCK, escape

RESULT_STATUS = {"preliminary": "P", "final": "F", "amended": "C"}

# OBX-3 per section (LOINC narrative observations for radiology reports).
SECTION_CODES = {
    "history": ("55752-0", "Clinical information"),
    "addendum": ("55107-7", "Addendum"),
    "technique": ("55111-9", "Current imaging procedure descriptions"),
    "comparison": ("18834-2", "Radiology Comparison study"),
    "findings": ("59776-5", "Procedure findings"),
    "impression": ("19005-8", "Radiology Impression"),
    "critical": ("73568-8", "Communication of critical results"),
}

# HL7 "AA" in OBX-8: critically abnormal (table 0078).
CRITICAL_FLAG = "AA"


# -- writing ----------------------------------------------------------------------------------
def _components(*values: str) -> str:
    return "^".join(escape(v) for v in values).rstrip("^")


def _ts(moment) -> str:
    return moment.strftime("%Y%m%d%H%M%S") + utc_offset(moment)


def _date(value) -> str:
    return value.strftime("%Y%m%d") if value else ""


def _xpn(pn: str) -> str:
    """A DICOM PN as XPN repetitions: alphabetic (A) and ideographic (I) forms, legal name."""
    repetitions = []
    for group, representation in zip(pn_groups(pn), ("A", "I", "P"), strict=False):
        family, given, middle, prefix, suffix = group
        if not any(group):
            continue
        # XPN: family^given^middle^suffix^prefix^degree^type^representation
        parts = (family, given, middle, suffix, prefix, "", "L", representation)
        repetitions.append("^".join(escape(part) for part in parts))
    return "~".join(repetitions)


def _xcn(pn: str) -> str:
    """A physician as XCN (no id): the first non-empty PN group."""
    for group in pn_groups(pn):
        family, given, middle, prefix, suffix = group
        if any(group):
            return _components("", family, given, middle, suffix, prefix)
    return ""


def message_control_id(doc: ReportDocument) -> str:
    # MSH-10 is at most 20 characters; a hash of the idempotency key fits and is stable.
    return short_hash(f"hl7:{doc.idempotency_key}", 20)


def _text_lines(text: str) -> list[str]:
    lines = text.strip().replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line.rstrip() for line in lines]


@in_report_language
def oru_r01(
    doc: ReportDocument,
    *,
    sending_application: str,
    sending_facility: str,
    receiving_application: str,
    receiving_facility: str,
    pdf: bytes | None,
) -> str:
    """The ORU^R01 message text, segments ending in CR (encode as UTF-8 to send)."""
    check_document(doc)
    status = RESULT_STATUS[doc.status]
    signed = _ts(local(doc, doc.signed_at))
    study_at = ""
    if doc.study_date:
        study_at = _date(doc.study_date) + (f"{doc.study_time:%H%M%S}" if doc.study_time else "")
    accession = _components(doc.accession_number, doc.hospital_code)
    referring = _xcn(doc.referring_physician_name)
    interpreter = f"{escape(doc.signed_by_username)}&{escape(doc.signed_by_name)}"
    observer = _components(doc.signed_by_username, doc.signed_by_name)

    segments = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                escape(sending_application),
                escape(sending_facility),
                escape(receiving_application),
                escape(receiving_facility),
                signed,
                "",
                "ORU^R01^ORU_R01",
                message_control_id(doc),
                "P",
                "2.5.1",
                "",
                "",
                "",
                "",
                "",
                "UNICODE UTF-8",
            ]
        ),
        "|".join(
            [
                "PID",
                "1",
                "",
                _components(doc.patient_id, "", "", doc.hospital_code, "MR"),
                "",
                _xpn(doc.patient_name),
                "",
                _date(doc.patient_birth_date),
                escape(doc.patient_sex if doc.patient_sex in {"M", "F", "O"} else "U"),
            ]
        ),
        "|".join(["PV1", "1", "U", "", "", "", "", "", referring]),
        "|".join(
            ["ORC", "RE", accession, accession, "", "CM", "", "", "", signed, "", "", referring]
        ),
        "|".join(
            [
                "OBR",
                "1",
                accession,
                accession,
                _components(REPORT_CODE[0], REPORT_CODE[2], REPORT_CODE[1]),
                "",
                "",
                study_at,
                "",
                "",
                "",
                "",
                "",
                escape(doc.clinical_history),
                "",
                "",
                referring,
                "",
                escape(doc.accession_number),
                "",
                "",
                "",
                signed,
                "",
                "RAD",
                status,
                "",
                "",
                "",
                "",
                "",
                "",
                f"{interpreter}^{signed}",
            ]
        ),
    ]
    notes = [
        status_sentence(doc),
        _(
            "Electronically signed by %(name)s (%(username)s); meaning: %(meaning)s. Content "
            "SHA-256 %(hash)s."
        )
        % {
            "name": doc.signed_by_name,
            "username": doc.signed_by_username,
            "meaning": meaning_words(doc.signature_meaning),
            "hash": doc.content_sha256,
        },
    ]
    segments += [f"NTE|{i}|L|{escape(note)}" for i, note in enumerate(notes, start=1)]

    obx: list[str] = []
    set_ids = iter(range(1, 10_000))

    def add(value_type, code: tuple[str, str], sub_id, value, *, flag="", method="", equipment=""):
        fields = [
            "OBX",
            str(next(set_ids)),
            value_type,
            _components(code[0], code[1], "LN"),
            sub_id,
            value,
            "",
            "",
            flag,
            "",
            "",
            status,
            "",
            "",
            signed,
            "",
            observer,
            method,
            equipment,
        ]
        obx.append("|".join(fields).rstrip("|"))

    def note(text: str, index: int = 1) -> None:
        obx.append(f"NTE|{index}|L|{escape(text)}")

    for number, (key, text) in enumerate(_sections(doc), start=1):
        for line in _text_lines(text):
            add("TX", SECTION_CODES[key], str(number), escape(line))
    for index, critical in enumerate(doc.critical_findings, start=1):
        add(
            "TX",
            SECTION_CODES["critical"],
            f"crit.{index}",
            escape(critical.finding),
            flag=CRITICAL_FLAG,
        )
        note(
            _("CRITICAL RESULT: %(finding)s (%(category)s)")
            % {"finding": critical.finding, "category": critical_text(critical.category)}
        )
    for index, finding in enumerate(doc.ai_findings, start=1):
        _add_ai(add, note, index, finding)
    if pdf is not None:
        encoded = base64.b64encode(pdf).decode("ascii")
        # ED: source application ^ type (AP: application data) ^ subtype ^ encoding ^ data.
        add("ED", (REPORT_CODE[0], REPORT_CODE[2]), "pdf", f"^AP^PDF^Base64^{encoded}")
    return "\r".join(segments + obx) + "\r"


def _sections(doc: ReportDocument) -> list[tuple[str, str]]:
    """The text sections with something in them, in reading order (OBX sub-ids 1, 2, ...)."""
    sections: list[tuple[str, str]] = []
    if doc.clinical_history.strip():
        sections.append(("history", doc.clinical_history))
    if doc.is_amended and doc.addendum_text.strip():
        sections.append(("addendum", doc.addendum_text))
    sections += [
        (key, text)
        for key, text in (
            ("technique", doc.technique),
            ("comparison", doc.comparison),
            ("findings", doc.findings),
            ("impression", doc.impression),
        )
        if text.strip()
    ]
    return sections


def _add_ai(add, note, index: int, finding: AIFinding) -> None:
    method = _components(finding.model_name, f"{finding.model_name} {finding.model_version}", "L")
    equipment = _components(device_uid(finding), "", "", "ISO")
    if finding.confirmed:
        # Only a finding the radiologist confirmed is sent coded: a receiver that files codes
        # alone must not record an unconfirmed AI flag as a diagnosis.
        value = _components(finding.code.value, finding.code.meaning, finding.code.scheme)
        add(
            "CE",
            SECTION_CODES["findings"],
            f"ai.{index}",
            value,
            method=method,
            equipment=equipment,
        )
    else:
        add("TX", SECTION_CODES["findings"], f"ai.{index}", escape(finding.label), method=method,
            equipment=equipment)  # fmt: skip
    note(ai_line(finding))


# -- reading ACKs -----------------------------------------------------------------------------
class AckError(ValueError):
    """The peer's answer is not an HL7 acknowledgement we can read."""


@dataclass(frozen=True)
class Ack:
    code: str  # MSA-1: AA/AE/AR (original mode) or CA/CE/CR (enhanced mode)
    message_control_id: str  # MSA-2: the control id of the message acknowledged
    text: str  # MSA-3, or the ERR segment's words when MSA-3 is empty
    raw: str = ""

    @property
    def accepted(self) -> bool:
        return self.code in {"AA", "CA"}

    @property
    def retryable(self) -> bool:
        """AE/CE: the receiver failed to process it this time; AR/CR: it refuses the message."""
        return self.code in {"AE", "CE"}


def parse_ack(text: str) -> Ack:
    import hl7

    normalised = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r\x0b\x1c ")
    if not normalised.startswith("MSH"):
        raise AckError(f"the answer is not an HL7 message: {text[:80]!r}")
    try:
        message = hl7.parse(normalised)
        msa = message.segment("MSA")
    except (KeyError, hl7.ParseException, IndexError) as exc:
        raise AckError(f"the answer has no MSA segment: {text[:120]!r}") from exc

    def field(segment, index: int) -> str:
        try:
            return message.unescape(str(segment[index]))
        except IndexError:
            return ""

    code = field(msa, 1).strip().upper()
    if code not in {"AA", "AE", "AR", "CA", "CE", "CR"}:
        raise AckError(f"MSA-1 {code!r} is not an acknowledgement code")
    words = field(msa, 3)
    if not words:
        try:
            err = message.segment("ERR")
            words = " ".join(
                part
                for part in (field(err, 8), field(err, 7), field(err, 3), field(err, 1))
                if part
            ).replace("^", " ")
        except KeyError:
            words = ""
    return Ack(code=code, message_control_id=field(msa, 2).strip(), text=words, raw=normalised)


# -- MLLP -------------------------------------------------------------------------------------
class MLLPError(Exception):
    """No usable ACK came back. Always worth a retry: the receiver drops duplicates by id."""

    def __init__(self, code: str, message: str, *, retryable: bool = True):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


def _control_id(message: str) -> str:
    msh = message.split("\r", 1)[0]
    fields = msh.split(msh[3] if len(msh) > 3 else "|")
    return fields[9] if len(fields) > 9 else ""


def mllp_send(host: str, port: int, message: str, *, timeout: float) -> Ack:
    """Send one framed message, read the framed ACK, check it is for this message.

    ``timeout`` bounds the whole exchange (connect, send, wait for the ACK). Returns the
    ACK whatever its code (the caller decides what AE or AR mean for it); raises MLLPError
    when nothing usable came back.
    """
    control_id = _control_id(message)
    where = f"{host}:{port}"
    deadline = time.monotonic() + timeout
    buffer = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(START_BLOCK + message.encode("utf-8") + END_BLOCK)
            while END_BLOCK not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buffer += chunk
    except ConnectionRefusedError as exc:
        raise MLLPError(
            "hl7_unreachable",
            f"the hospital's HL7 interface at {where} refused the connection; it is down or "
            "not listening there: check the host and port with the hospital's interface team",
        ) from exc
    except TimeoutError as exc:
        raise MLLPError(
            "hl7_timeout",
            f"the hospital's HL7 interface at {where} sent no acknowledgement within "
            f"{timeout:g}s; it will be retried (the control id {control_id} lets them drop a "
            "duplicate)",
        ) from exc
    except OSError as exc:
        raise MLLPError(
            "hl7_unreachable",
            f"the hospital's HL7 interface at {where} could not be reached ({exc}); check the "
            "network path and the host name",
        ) from exc
    if b"\x1c" not in buffer:
        raise MLLPError(
            "hl7_no_ack",
            f"the hospital's HL7 interface at {where} closed the connection without an "
            "acknowledgement; it will be retried",
        )
    payload = buffer[buffer.find(START_BLOCK) + 1 : buffer.index(b"\x1c")]
    try:
        ack = parse_ack(payload.decode("utf-8", errors="replace"))
    except AckError as exc:
        raise MLLPError(
            "hl7_bad_ack",
            f"the hospital's HL7 interface at {where} answered something that is not an ACK "
            f"({exc}); ask their interface team to check their side",
        ) from exc
    if ack.message_control_id != control_id:
        raise MLLPError(
            "hl7_ack_mismatch",
            f"the hospital's HL7 interface at {where} acknowledged message "
            f"{ack.message_control_id!r}, not ours ({control_id!r}); it will be resent",
        )
    return ack
