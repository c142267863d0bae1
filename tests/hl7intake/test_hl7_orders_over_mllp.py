"""HL7 v2 orders over MLLP, end to end: a real listener on a socket, a real MLLP client (the
hl7 library's), PostgreSQL. Korean and Chinese messages in their hospitals' character sets;
resends answered once; changes and cancels reaching the worklist; bad messages refused with
the reason and nothing changed."""

from __future__ import annotations

import threading

import hl7
import pytest
from django.urls import reverse
from hl7.client import MLLPClient

from readingcenter.audit.models import AuditEvent
from readingcenter.hl7intake.listener import Listener
from readingcenter.hl7intake.models import InboundMessage
from readingcenter.hospitals.models import HospitalHL7Facility
from readingcenter.studies.models import Order, OrderStatus
from readingcenter.worklist.consumers import WorklistHintConsumer
from readingcenter.worklist.models import Case, CaseState
from simulator.hl7_orders import OrderMessage, patient_update
from tests.factories import make_case, make_study
from tests.hints import hints_during

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def facilities(hospital_a, hospital_b):
    HospitalHL7Facility.objects.create(hospital=hospital_a, sending_facility="ALPHA_RIS",
                                       default_charset="KS X 1001",
                                       default_patient_id_issuer="ALPHA-MRN")  # fmt: skip
    HospitalHL7Facility.objects.create(hospital=hospital_b, sending_facility="BETA_RIS",
                                       default_charset="GB 18030-2000")  # fmt: skip


def arrive(hospital, accession: str):
    """The study of an order arrives and is read: matched as the follower matches it."""
    from django.db import transaction

    from readingcenter.studies.services import study_changed, study_match_order

    case = make_case(hospital, accession_number=accession)
    with transaction.atomic():
        study = case.study
        study_match_order(study)
        study.save()
        study_changed(study)
    case.refresh_from_db()
    return case


def send(listener, payload: bytes | str, encoding: str = "utf-8") -> hl7.Message:
    with MLLPClient("127.0.0.1", listener.port, encoding=encoding) as client:
        answer = client.send_message(payload)
    return hl7.parse(answer)


def msa(ack: hl7.Message) -> tuple[str, str, str]:
    segment = ack.segment("MSA")
    return str(segment[1]), str(segment[2]), ack.unescape(str(segment[3]))


def test_a_korean_order_in_ks_x_1001_creates_the_order_and_matches_its_study(
    listener, facilities, hospital_a
):
    study = make_study(hospital_a, accession_number="KR0001", status="complete")
    message = OrderMessage(facility="ALPHA_RIS", control_id="K1", accession_number="KR0001",
                           patient_id="12345", patient_family="홍", patient_given="길동",
                           priority="S", clinical_history="교통사고 후 의식 저하",
                           charset="KS X 1001")  # fmt: skip
    payload = message.encoded()
    ack = send(listener, payload)
    assert msa(ack) == ("AA", "K1", "order KR0001 created")
    order = Order.objects.get(hospital=hospital_a, accession_number="KR0001")
    assert (order.patient_name, order.priority, order.source) == ("홍^길동", "stat", "hl7")
    assert order.clinical_history == "교통사고 후 의식 저하"
    assert order.issuer_of_patient_id == "ALPHA-MRN"  # the facility's default issuer
    assert order.requested_procedure == "CT Head without contrast"
    assert order.referring_physician == "Kim Doctor (D100)"
    study.refresh_from_db()
    assert study.order_id == order.id and study.priority == "stat"
    stored = InboundMessage.objects.get(control_id="K1")
    assert bytes(stored.raw) == payload and stored.ack_code == "AA"
    assert AuditEvent.objects.filter(action="hl7.receive", hospital_id=hospital_a.id).exists()


def test_a_chinese_omi_in_gb18030_creates_the_order(listener, facilities, hospital_b):
    message = OrderMessage(facility="BETA_RIS", control_id="Z1", accession_number="CN0001",
                           patient_id="A-77", patient_family="王", patient_given="小明",
                           procedure="胸部CT平扫", priority="A", structure="OMI^O23",
                           charset="GB 18030-2000", issuer="BETA-HIS")  # fmt: skip
    ack = send(listener, message.encoded(), encoding="gb18030")
    assert msa(ack)[0] == "AA"
    order = Order.objects.get(hospital=hospital_b, accession_number="CN0001")
    assert (order.patient_name, order.requested_procedure) == ("王^小明", "胸部CT平扫")
    assert (order.priority, order.issuer_of_patient_id) == ("urgent", "BETA-HIS")


def test_a_resent_message_is_answered_again_and_does_nothing_twice(listener, facilities):
    message = OrderMessage(facility="ALPHA_RIS", control_id="R1", accession_number="KR0002",
                           patient_id="1", patient_family="Lee", patient_given="Min")  # fmt: skip
    payload = message.encoded()  # the same bytes twice, as an engine resends
    first = send(listener, payload)
    second = send(listener, payload)
    assert msa(first) == msa(second) == ("AA", "R1", "order KR0002 created")
    assert Order.objects.filter(accession_number="KR0002").count() == 1
    assert InboundMessage.objects.filter(control_id="R1").count() == 1


def test_two_listeners_racing_on_one_message_create_one_order(facilities):
    """Two nodes' listeners get the same message at once (an engine that resent on a timeout
    to the other node): one order, and both answer with the one ACK."""
    servers = [Listener("127.0.0.1", 0) for _ in range(2)]
    for server in servers:
        server.start_in_thread()
    message = OrderMessage(facility="ALPHA_RIS", control_id="RACE", accession_number="KR0003",
                           patient_id="2", patient_family="Park", patient_given="Ji")  # fmt: skip
    answers: list = []
    barrier = threading.Barrier(8)

    def go(server):
        barrier.wait()
        answers.append(msa(send(server, message.encoded())))

    try:
        threads = [threading.Thread(target=go, args=(servers[i % 2],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    assert len(answers) == 8 and set(answers) == {("AA", "RACE", "order KR0003 created")}
    assert Order.objects.filter(accession_number="KR0003").count() == 1


def test_a_change_raises_the_priority_of_the_case_on_the_worklist(listener, facilities,
                                                                  hospital_a):  # fmt: skip
    new = OrderMessage(facility="ALPHA_RIS", control_id="C1", accession_number="KR0004",
                       patient_id="3", patient_family="Choi", patient_given="Su")  # fmt: skip
    assert msa(send(listener, new.encoded()))[0] == "AA"
    case = arrive(hospital_a, "KR0004")
    assert case.priority == "routine"
    change = OrderMessage(**{**new.__dict__, "control_id": "C2", "control": "XO",
                             "priority": "S", "clinical_history": "GCS 8"})  # fmt: skip
    assert msa(send(listener, change.encoded())) == ("AA", "C2", "order KR0004 changed")
    case.refresh_from_db()
    order = Order.objects.get(accession_number="KR0004")
    assert (case.priority, order.priority, order.clinical_history) == ("stat", "stat", "GCS 8")


def _reader(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


@pytest.mark.usefixtures("own_redis_prefix")
def test_a_cancel_takes_a_claimed_case_off_the_worklist_and_tells_why(
    listener, facilities, hospital_a, radiologist
):
    from readingcenter.worklist.services import case_claim

    new = OrderMessage(facility="ALPHA_RIS", control_id="X1", accession_number="KR0005",
                       patient_id="4", patient_family="Jung", patient_given="Ho")  # fmt: skip
    send(listener, new.encoded())
    case = arrive(hospital_a, "KR0005")
    case_claim(case_id=case.id, user=radiologist)
    cancel = OrderMessage(**{**new.__dict__, "control_id": "X2", "control": "CA",
                             "cancel_reason": "환자 퇴원"})  # fmt: skip
    heard = hints_during(
        WorklistHintConsumer, "/ws/worklist/", radiologist,
        lambda: msa(send(listener, cancel.encoded())) == ("AA", "X2", "order KR0005 cancelled"),
    )  # fmt: skip
    assert {"type": "case", "id": case.id, "event": "order_cancelled"}.items() <= heard[-1].items()
    page = _reader(radiologist).get(reverse("case-detail", args=[case.pk])).content.decode()
    assert "Off the worklist:</b> Order cancelled by the hospital: 환자 퇴원" in page
    case.refresh_from_db()
    assert case.state == CaseState.REMOVED
    assert case.removed_reason == "Order cancelled by the hospital: 환자 퇴원"
    assert Order.objects.get(accession_number="KR0005").status == OrderStatus.CANCELLED
    event = AuditEvent.objects.get(action="case.order_cancelled")
    assert event.detail["claimed_by"] == radiologist.id


def test_a_study_arriving_after_its_order_was_cancelled_opens_no_case(listener, facilities,
                                                                      hospital_a):  # fmt: skip
    from django.db import transaction

    from readingcenter.studies.services import study_changed, study_match_order

    new = OrderMessage(facility="ALPHA_RIS", control_id="L1", accession_number="KR0006",
                       patient_id="5", patient_family="Kang", patient_given="Mi")  # fmt: skip
    send(listener, new.encoded())
    send(listener, OrderMessage(**{**new.__dict__, "control_id": "L2", "control": "CA"}).encoded())
    study = make_study(hospital_a, accession_number="KR0006", status="complete")
    with transaction.atomic():
        study_match_order(study)
        study.save()
        study_changed(study)
    assert study.order.status == OrderStatus.CANCELLED
    assert not Case.objects.filter(study=study).exists()


def test_an_adt_update_renames_the_patient_on_his_open_orders(listener, facilities):
    new = OrderMessage(facility="ALPHA_RIS", control_id="A1", accession_number="KR0007",
                       patient_id="6", patient_family="Yoon", patient_given="A")  # fmt: skip
    send(listener, new.encoded())
    ack = send(listener, patient_update("ALPHA_RIS", "A2", "6", "윤", "아름", issuer="ALPHA-MRN"))
    assert msa(ack) == ("AA", "A2", "patient 6 updated on 1 order(s)")
    assert Order.objects.get(accession_number="KR0007").patient_name == "윤^아름"


@pytest.mark.parametrize(
    ("payload", "code", "error", "words"),
    [
        (b"MSH|^~\\&|RIS|ALPHA_RIS|RC|RC|20261206||||P|2.5.1\rPID|1||1\r", "AR",
         "message_type_missing", "MSH-9"),
        (OrderMessage(facility="NOBODY", control_id="U1", accession_number="Q1", patient_id="1",
                      patient_family="A", patient_given="B").encoded(), "AR", "unknown_facility",
         "'NOBODY'"),
        # Says UTF-8, is EUC-KR: refused rather than a patient name read wrong.
        (OrderMessage(facility="ALPHA_RIS", control_id="W1", accession_number="Q2",
                      patient_id="1", patient_family="홍", patient_given="길동")
         .text().encode("euc-kr"), "AR", "wrong_charset", "UNICODE UTF-8"),
        (OrderMessage(facility="ALPHA_RIS", control_id="W2", accession_number="Q3",
                      patient_id="1", patient_family="A", patient_given="B",
                      charset="KOI8-R").text().encode(), "AR", "unsupported_charset", "KOI8-R"),
        (OrderMessage(facility="ALPHA_RIS", control_id="N1", accession_number="",
                      patient_id="1", patient_family="A", patient_given="B").encoded(), "AE",
         "accession_missing", "accession"),
        (OrderMessage(facility="ALPHA_RIS", control_id="N2", accession_number="Q4",
                      patient_id="1", patient_family="A", patient_given="B",
                      control="XO").encoded(), "AE", "order_unknown", "send NW first"),
        (b"PID|1||1\r", "AR", "no_msh", "MSH"),
    ],
    ids=["no-msh-9", "unknown-facility", "wrong-charset", "unsupported-charset",
         "no-accession", "change-unknown-order", "no-msh"],
)  # fmt: skip
def test_a_bad_message_is_refused_with_the_reason_and_changes_nothing(
    listener, facilities, payload, code, error, words
):
    ack = send(listener, payload)
    got, _control, text = msa(ack)
    assert got == code and words in text, text
    assert str(ack.segment("ERR")[3]).split("^")[1] == error
    assert not Order.objects.exists()
    stored = InboundMessage.objects.get()
    assert (stored.ack_code, stored.error_code, bytes(stored.raw)) == (code, error, payload)


def test_garbage_between_frames_and_a_message_split_across_packets_are_read(listener, facilities):
    import socket

    from readingcenter.hl7intake.er7 import frames

    message = OrderMessage(
        facility="ALPHA_RIS",
        control_id="S1",
        accession_number="KR0008",
        patient_id="7",
        patient_family="Han",
        patient_given="B",
    ).encoded()
    framed = b"noise" + b"\x0b" + message + b"\x1c\x0d"
    with socket.create_connection(("127.0.0.1", listener.port), 10) as sock:
        sock.sendall(framed[:20])
        sock.sendall(framed[20:])
        buffer = bytearray()
        while not frames(bytearray(buffer)):
            buffer += sock.recv(4096)
    (ack,) = frames(buffer)
    assert b"MSA|AA|S1" in ack
    assert Order.objects.filter(accession_number="KR0008").exists()
