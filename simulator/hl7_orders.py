"""HL7 v2 orders and ADT updates as a hospital's RIS sends them (ORM^O01, OMI^O23, ADT^A08).

The character set is the hospital's: MSH-18 names it and the message is encoded in it
(``encoded``), as a Korean RIS sends KS X 1001 (EUC-KR) and a Chinese one GB 18030.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CODECS = {"UNICODE UTF-8": "utf-8", "KS X 1001": "euc-kr", "GB 18030-2000": "gb18030",
          "8859/1": "latin-1", "": "ascii"}  # fmt: skip


@dataclass
class OrderMessage:
    facility: str
    control_id: str
    accession_number: str
    patient_id: str
    patient_family: str
    patient_given: str
    procedure_code: str = "CTHEAD"
    procedure: str = "CT Head without contrast"
    priority: str = "R"  # HL7 table 0027: S stat, A asap, R routine
    clinical_history: str = ""
    control: str = "NW"  # NW new, XO change, CA cancel
    placer: str = ""
    issuer: str = ""
    referring: tuple[str, str, str] = ("D100", "Kim", "Doctor")
    charset: str = "UNICODE UTF-8"
    structure: str = "ORM^O01"  # or OMI^O23
    cancel_reason: str = ""

    def text(self) -> str:
        now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
        placer = self.placer or f"P{self.accession_number}"
        doc = "^".join(self.referring)
        segments = [
            f"MSH|^~\\&|RIS|{self.facility}|READINGCENTER|READINGCENTER|{now}||{self.structure}|"
            f"{self.control_id}|P|2.5.1|||AL|NE||{self.charset}",
            f"PID|1||{self.patient_id}^^^{self.issuer}^MR||{self.patient_family}^"
            f"{self.patient_given}||19700101|M",
            f"ORC|{self.control}|{placer}|||||^^^^^{self.priority}||{now}|||{doc}||||"
            f"^{self.cancel_reason}",
        ]
        if self.structure.startswith("OMI"):
            segments.append(f"TQ1|1||||||||{self.priority}")
        segments.append(
            f"OBR|1|{placer}||{self.procedure_code}^{self.procedure}^L|{self.priority}||||||||"
            f"{self.clinical_history}|||{doc}||{self.accession_number}"
        )
        if self.structure.startswith("OMI"):
            segments.append(f"IPC|{self.accession_number}|RP{self.accession_number}|||CT")
        return "\r".join(segments) + "\r"

    def encoded(self) -> bytes:
        return self.text().encode(CODECS.get(self.charset, "utf-8"))


def _adt(facility: str, control_id: str, event: str, structure: str, patient: str,
         family: str, given: str, last: str, *, issuer: str, charset: str) -> bytes:  # fmt: skip
    """An ADT message: MSH, EVN, PID of ``patient`` and the event's own ``last`` segment."""
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    text = (
        f"MSH|^~\\&|ADT|{facility}|READINGCENTER|READINGCENTER|{now}||ADT^{event}^{structure}|"
        f"{control_id}|P|2.5.1|||AL|NE||{charset}\r"
        f"EVN|{event}|{now}\r"
        f"PID|1||{patient}^^^{issuer}^MR||{family}^{given}||19700101|M\r"
        f"{last}\r"
    )
    return text.encode(CODECS.get(charset, "utf-8"))


def patient_update(facility: str, control_id: str, patient_id: str, family: str, given: str,
                   *, issuer: str = "", charset: str = "UNICODE UTF-8") -> bytes:  # fmt: skip
    """ADT^A08: the patient's demographics changed."""
    return _adt(facility, control_id, "A08", "ADT_A01", patient_id, family, given, "PV1|1|E",
                issuer=issuer, charset=charset)  # fmt: skip


def patient_merge(
    facility: str,
    control_id: str,
    *,
    surviving: str,
    old: str,
    family: str,
    given: str,
    issuer: str = "",
    charset: str = "UNICODE UTF-8",
) -> bytes:
    """ADT^A40: patient ``old`` (MRG-1) is patient ``surviving`` (PID-3)."""
    return _adt(facility, control_id, "A40", "ADT_A39", surviving, family, given,
                f"MRG|{old}^^^{issuer}^MR", issuer=issuer, charset=charset)  # fmt: skip
