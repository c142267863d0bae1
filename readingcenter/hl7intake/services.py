"""What an HL7 v2 message from a hospital does, and the ACK it gets. The only writer here.

ORM^O01 and OMI^O23 carry orders: ORC-1 NW creates one, XO changes it, CA (or DC/OC) cancels
it; each goes through the same order services as the REST API, so priority, matching to the
study and audit are one code path. ADT^A08 updates the patient's name on his open orders.

The answer follows HL7's original acknowledgment rules: AA when the message did what it said;
AE when it was understood but its content cannot be applied (no accession number, a change to
an order we do not have); AR when it is refused as sent (no MSH-9, an unknown sending facility,
an unsupported message type or character set). The reason goes in MSA-3 and ERR, with our
stable code; the raw message is kept whatever the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from readingcenter.audit.services import audit_record
from readingcenter.errors import DomainError
from readingcenter.hl7intake import er7
from readingcenter.hl7intake.er7 import MessageRefused
from readingcenter.hl7intake.models import InboundMessage
from readingcenter.hospitals.models import HospitalHL7Facility
from readingcenter.studies.models import Order, OrderSource, OrderStatus, Priority
from readingcenter.studies.services import (
    order_cancel,
    order_change,
    order_create,
    patients_merge,
)

SUPPORTED = ("ORM^O01", "OMI^O23", "ADT^A08", "ADT^A40")
NEW, CHANGE, CANCEL = ("NW",), ("XO",), ("CA", "DC", "OC")


@dataclass
class Answer:
    """The ACK to send back, and the character set to write it in."""

    text: str
    charset: str  # a Python codec
    code: str  # AA / AE / AR

    def framed(self) -> bytes:
        return er7.frame(self.text, self.charset)


def message_receive(raw: bytes, *, peer: str = "") -> Answer:
    """Take one message (the bytes inside an MLLP frame); always returns the ACK to send."""
    try:
        header = er7.read_header(raw)
    except MessageRefused as refused:
        header = er7.Header()
        return _answer(raw, header, None, "utf-8", refused, peer=peer)
    facility = (
        HospitalHL7Facility.objects.select_related("hospital")
        .filter(sending_facility=header.sending_facility)
        .first()
    )
    codec = er7.CHARSETS.get(header.charset.upper()) or "utf-8"
    try:
        if not header.message_type:
            raise MessageRefused("AR", "message_type_missing",
                                 "MSH-9 (message type) is empty: say what the message is.",
                                 "101")  # fmt: skip
        if facility is None or not facility.hospital.is_active:
            raise MessageRefused(
                "AR", "unknown_facility",
                f"Sending facility {header.sending_facility!r} (MSH-4) belongs to no hospital "
                "here: ask the reading center to add it to the hospital's HL7 facilities.", "204",
            )  # fmt: skip
        if header.event not in SUPPORTED:
            raise MessageRefused("AR", "unsupported_message_type",
                                 f"{header.message_type} is not taken: send "
                                 f"{', '.join(SUPPORTED)}.", "200")  # fmt: skip
        if not header.control_id:
            raise MessageRefused("AR", "control_id_missing",
                                 "MSH-10 (message control id) is empty.", "101")  # fmt: skip
        charset = header.charset or facility.default_charset
        codec = er7.CHARSETS.get(charset.upper().strip()) or codec
        text = er7.decode(raw, charset)
        message = er7.parse(text)
    except MessageRefused as refused:
        return _answer(raw, header, facility, codec, refused, peer=peer)
    return _apply(raw, header, facility, message, codec, peer=peer)


def _apply(raw, header, facility, message, codec: str, *, peer: str) -> Answer:
    """Apply the message and record it with its ACK in one transaction, once per control id."""
    try:
        with transaction.atomic():
            stored = InboundMessage.objects.create(
                hospital=facility.hospital, sending_application=header.sending_application,
                sending_facility=header.sending_facility, control_id=header.control_id,
                message_type=header.message_type, charset=header.charset, raw=raw, peer=peer,
                ack_code="AA", ack_message="",
            )  # fmt: skip
            try:
                with transaction.atomic():
                    outcome = _dispatch(header, facility, message)
                code, text, error, hl7_error = "AA", outcome.pop("text"), "", ""
            except MessageRefused as refused:
                outcome = {}
                code, text, error, hl7_error = (refused.ack, refused.text, refused.code,
                                                refused.hl7_error)  # fmt: skip
            stored.ack_code, stored.error_code, stored.error_text = (
                code,
                error,
                (text if code != "AA" else ""),
            )
            stored.outcome = outcome
            stored.ack_message = er7.ack(header, code, text, error=error, hl7_error=hl7_error)
            stored.save()
            audit_record(
                actor=f"hl7:{header.sending_facility}", action="hl7.receive", target=stored,
                hospital=facility.hospital, detail={"type": header.message_type,
                "control_id": header.control_id, "ack": code, "error": error, **outcome},
            )  # fmt: skip
    except IntegrityError:
        # The same control id again (a resend after a lost ACK, or two listeners racing on
        # one message): the first answer stands, and nothing is done twice.
        first = InboundMessage.objects.get(
            sending_facility=header.sending_facility, control_id=header.control_id
        )
        return Answer(first.ack_message, codec, first.ack_code)
    return Answer(stored.ack_message, codec, stored.ack_code)


def _answer(raw, header, facility, codec, refused: MessageRefused, *, peer: str) -> Answer:
    """A message refused before it could be applied: kept, audited, answered with why."""
    text = er7.ack(header, refused.ack, refused.text, error=refused.code,
                   hl7_error=refused.hl7_error)  # fmt: skip
    with transaction.atomic():
        stored = InboundMessage.objects.create(
            hospital=facility.hospital if facility else None,
            sending_application=header.sending_application[:64],
            sending_facility=header.sending_facility[:64],
            # A refused message is not an applied one: its control id stays free for the
            # corrected resend (the unique rule spares empty ids).
            control_id="", message_type=header.message_type[:32], charset=header.charset[:32],
            raw=raw, peer=peer, ack_code=refused.ack, ack_message=text,
            error_code=refused.code, error_text=refused.text,
            outcome={"control_id": header.control_id[:64]},
        )  # fmt: skip
        audit_record(
            actor=f"hl7:{header.sending_facility or 'unknown'}", action="hl7.refuse",
            target=stored, hospital=facility.hospital if facility else None,
            outcome="failure", detail={"code": refused.code, "text": refused.text},
        )  # fmt: skip
    return Answer(text, codec, refused.ack)


# -- the messages ------------------------------------------------------------------------------
def _dispatch(header, facility, message) -> dict:
    if header.event == "ADT^A08":
        return _patient_update(header, facility, message)
    if header.event == "ADT^A40":
        return _patient_merge(header, facility, message)
    orcs = er7.segments(message, "ORC")
    if not orcs:
        raise MessageRefused("AE", "orc_missing", "The order message has no ORC segment.", "100")
    results = [_order(header, facility, message, group) for group in _groups(message)]
    return {
        "orders": [r["order"] for r in results],
        "actions": [r["action"] for r in results],
        "text": "; ".join(r["text"] for r in results),
    }


def _groups(message):
    """Each ORC with the OBR, TQ1 and IPC segments that follow it (one order each)."""
    groups, current = [], None
    for segment in message:
        name = str(segment[0])
        if name == "ORC":
            current = {"ORC": segment}
            groups.append(current)
        elif current is not None and name in ("OBR", "TQ1", "IPC") and name not in current:
            current[name] = segment
    return groups


def _patient(facility, message) -> dict:
    pids = er7.segments(message, "PID")
    if not pids:
        return {"patient_id": "", "issuer_of_patient_id": "", "patient_name": ""}
    pid = pids[0]
    family, given = er7.value(message, pid, 5, 1), er7.value(message, pid, 5, 2)
    return {
        "patient_id": er7.value(message, pid, 3, 1)[:64],
        "issuer_of_patient_id": (
            er7.value(message, pid, 3, 4) or facility.default_patient_id_issuer
        )[:64],
        # DICOM's PN order (family^given), as the studies from the same hospital carry it.
        "patient_name": "^".join(p for p in (family, given) if p)[:324],
    }


def _person(message, segment, field: int) -> str:
    """An XCN (id^family^given...) as "family given (id)"."""
    ident, family, given = (er7.value(message, segment, field, c) for c in (1, 2, 3))
    name = " ".join(p for p in (family, given) if p)
    return (f"{name} ({ident})" if name and ident else name or ident)[:200]


def _order_fields(message, group) -> dict:
    orc, obr = group["ORC"], group.get("OBR")
    tq1, ipc = group.get("TQ1"), group.get("IPC")
    accession = (er7.value(message, ipc, 1) if ipc is not None else "") or (
        er7.value(message, obr, 18) if obr is not None else ""
    )
    procedure = ""
    if obr is not None:
        procedure = er7.value(message, obr, 4, 2) or er7.value(message, obr, 4, 1)
    priority = (
        (er7.value(message, tq1, 9) if tq1 is not None else "")
        or (er7.value(message, obr, 27, 6) if obr is not None else "")
        or (er7.value(message, obr, 5) if obr is not None else "")
        or er7.value(message, orc, 7, 6)
    )
    history = er7.value(message, obr, 13) if obr is not None else ""
    reason = er7.value(message, obr, 31, 2) or er7.value(message, obr, 31, 1) if obr else ""
    referring = _person(message, orc, 12) or (_person(message, obr, 16) if obr else "")
    return {
        "accession_number": accession[:16],
        "requested_procedure": procedure[:200],
        "priority": priority,
        "clinical_history": "\n".join(p for p in (history, reason) if p),
        "referring_physician": referring,
        "callback_phone": er7.value(message, orc, 14)[:40],
        "placer_order_number": er7.value(message, orc, 2)[:64],
        "filler_order_number": er7.value(message, orc, 3)[:64],
    }


def _priority(value: str) -> str:
    if not value:
        return Priority.ROUTINE
    try:
        return Priority.parse(value)
    except ValueError:
        # HL7 table 0027 also has P (pre-op), C (callback), T (timing critical): not urgent
        # in a reading center's sense, so routine unless the hospital says S or A.
        return Priority.ROUTINE


def _order(header, facility, message, group) -> dict:
    control = er7.value(message, group["ORC"], 1).upper()
    fields = _order_fields(message, group)
    patient = _patient(facility, message)
    actor = f"hl7:{header.sending_facility}"
    if control in NEW:
        order = _order_new(facility.hospital, actor, fields, patient)
        return {"order": order.id, "action": "created",
                "text": f"order {order.accession_number} created"}  # fmt: skip
    if control not in CHANGE + CANCEL:
        raise MessageRefused("AE", "order_control_unsupported",
                             f"ORC-1 {control or '(empty)'} is not taken: send NW, XO or CA.",
                             "207")  # fmt: skip
    order = _find_order(facility.hospital, fields)
    if control in CHANGE:
        _order_change(order, actor, fields, patient)
        return {"order": order.id, "action": "changed",
                "text": f"order {order.accession_number} changed"}  # fmt: skip
    reason = er7.value(message, group["ORC"], 16, 2) or er7.value(message, group["ORC"], 16)
    order_cancel(order_id=order.id, actor=actor,
                 reason=reason or f"ORC-1 {control} from {header.sending_facility}")  # fmt: skip
    return {"order": order.id, "action": "cancelled",
            "text": f"order {order.accession_number} cancelled"}  # fmt: skip


def _order_new(hospital, actor: str, fields: dict, patient: dict) -> Order:
    if not fields["accession_number"]:
        raise MessageRefused("AE", "accession_missing",
                             "No accession number (IPC-1 or OBR-18): the study cannot be "
                             "matched to the order without one.", "101")  # fmt: skip
    if not fields["requested_procedure"]:
        raise MessageRefused("AE", "procedure_missing", "No requested procedure (OBR-4).", "101")
    if Order.objects.filter(hospital=hospital, accession_number=fields["accession_number"]):
        raise MessageRefused("AE", "order_exists",
                             f"Accession number {fields['accession_number']} already has an "
                             "order here: send XO to change it.", "205")  # fmt: skip
    try:
        return order_create(hospital=hospital, actor=actor,
                            **{**fields, "priority": _priority(fields["priority"])},
                            **patient, source=OrderSource.HL7)  # fmt: skip
    except DomainError as exc:
        raise MessageRefused("AE", exc.code, exc.message, "207") from None


def _order_change(order: Order, actor: str, fields: dict, patient: dict) -> None:
    changeable = ("requested_procedure", "clinical_history", "referring_physician",
                  "callback_phone")  # fmt: skip
    changes = {k: fields[k] for k in changeable if fields[k]}
    if fields["priority"]:
        changes["priority"] = _priority(fields["priority"])
    if patient["patient_name"]:
        changes["patient_name"] = patient["patient_name"]
    try:
        order_change(order_id=order.id, actor=actor, changes=changes)
    except DomainError as exc:
        raise MessageRefused("AE", exc.code, exc.message, "207") from None


def _find_order(hospital, fields) -> Order:
    """The order a change or cancel is about: by the placer's number, else by accession."""
    orders = Order.objects.filter(hospital=hospital)
    found = None
    if fields["placer_order_number"]:
        found = orders.filter(placer_order_number=fields["placer_order_number"]).first()
    if found is None and fields["accession_number"]:
        found = orders.filter(accession_number=fields["accession_number"]).first()
    if found is None:
        raise MessageRefused(
            "AE", "order_unknown",
            f"No order with placer number {fields['placer_order_number']!r} or accession "
            f"{fields['accession_number']!r} at this hospital: send NW first.", "204",
        )  # fmt: skip
    return found


def _patient_update(header, facility, message) -> dict:
    """ADT^A08: the patient's demographics changed; his open orders take the new name."""
    patient = _patient(facility, message)
    if not patient["patient_id"]:
        raise MessageRefused("AE", "patient_id_missing", "PID-3 (patient id) is empty.", "101")
    orders = Order.objects.filter(
        hospital=facility.hospital,
        patient_id=patient["patient_id"],
        issuer_of_patient_id=patient["issuer_of_patient_id"],
        status=OrderStatus.ACTIVE,
    )
    updated = 0
    if patient["patient_name"]:
        updated = orders.exclude(patient_name=patient["patient_name"]).update(
            patient_name=patient["patient_name"]
        )
    return {"patient_id": patient["patient_id"], "orders_updated": updated,
            "text": f"patient {patient['patient_id']} updated on {updated} order(s)"}  # fmt: skip


def _patient_merge(header, facility, message) -> dict:
    """ADT^A40: the patient of MRG-1 is the patient of PID-3 (one hospital, two records)."""
    patient = _patient(facility, message)
    merges = er7.segments(message, "MRG")
    if not merges:
        raise MessageRefused("AE", "mrg_missing", "ADT^A40 without an MRG segment.", "100")
    old_id = er7.value(message, merges[0], 1, 1)[:64]
    old_issuer = (er7.value(message, merges[0], 1, 4) or facility.default_patient_id_issuer)[:64]
    try:
        merge = patients_merge(
            hospital=facility.hospital, old=(old_id, old_issuer),
            new=(patient["patient_id"], patient["issuer_of_patient_id"]),
            actor=f"hl7:{header.sending_facility}",
            source=f"hl7:{header.sending_facility} {header.control_id}",
        )  # fmt: skip
    except DomainError as exc:
        raise MessageRefused("AE", exc.code, exc.message, "207") from None
    return {"merge": merge.pk, "studies": len(merge.study_ids), "orders": len(merge.order_ids),
            "text": f"patient {old_id} merged into {patient['patient_id']}: "
                    f"{len(merge.study_ids)} studies, {len(merge.order_ids)} orders"}  # fmt: skip
