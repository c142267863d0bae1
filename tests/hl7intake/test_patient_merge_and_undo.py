"""ADT^A40 over MLLP: a hospital's two records of one patient become one, within that hospital
only; a manager undoes it and exactly what moved goes back."""

from __future__ import annotations

import pytest
from django.urls import reverse

from readingcenter.audit.models import AuditEvent
from readingcenter.hospitals.models import HospitalHL7Facility
from readingcenter.studies.models import Order, PatientMerge, Study
from readingcenter.worklist.selectors import priors_for
from simulator.hl7_orders import OrderMessage, patient_merge
from tests.factories import make_case, make_study
from tests.hl7intake.test_hl7_orders_over_mllp import msa, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def facility(hospital_a):
    return HospitalHL7Facility.objects.create(hospital=hospital_a, sending_facility="ALPHA_RIS",
                                              default_patient_id_issuer="ALPHA-MRN")  # fmt: skip


def test_a_merge_moves_the_old_ids_studies_and_orders_and_an_undo_moves_them_back(
    listener,
    facility,
    hospital_a,
    hospital_b,
    manager,
    client,
):
    ids = {"issuer_of_patient_id": "ALPHA-MRN"}
    case = make_case(hospital_a, patient_id="NEW-1", **ids)
    old_studies = [make_study(hospital_a, patient_id="OLD-1", **ids) for _ in range(2)]
    elsewhere = make_study(hospital_b, patient_id="OLD-1", issuer_of_patient_id="ALPHA-MRN")
    send(listener, OrderMessage(facility="ALPHA_RIS", control_id="O1", accession_number="M1",
                                patient_id="OLD-1", patient_family="Seo",
                                patient_given="Yun").encoded())  # fmt: skip
    assert list(priors_for(case)) == []

    ack = send(listener, patient_merge("ALPHA_RIS", "MG1", surviving="NEW-1", old="OLD-1",
                                       family="Seo", given="Yun"))  # fmt: skip
    assert msa(ack) == ("AA", "MG1", "patient OLD-1 merged into NEW-1: 2 studies, 1 orders")
    assert set(priors_for(case)) == set(old_studies)
    assert Order.objects.get(accession_number="M1").patient_id == "NEW-1"
    elsewhere.refresh_from_db()
    assert elsewhere.patient_id == "OLD-1", "another hospital's patient OLD-1 was touched"

    # Later a new study arrives for the surviving id: an undo leaves it there.
    later = make_study(hospital_a, patient_id="NEW-1", **ids)
    merge = PatientMerge.objects.get()
    manager.is_staff = manager.is_superuser = True  # the admin is the managers' console
    manager.save()
    client.force_login(manager)
    answer = client.post(
        reverse("admin:studies_patientmerge_changelist"),
        {"action": "undo", "_selected_action": [merge.pk], "reason": "wrong patient merged"},
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    merge.refresh_from_db()
    assert merge.undone_by == manager and merge.undo_reason == "wrong patient merged"
    assert set(Study.objects.filter(patient_id="OLD-1", hospital=hospital_a)) == set(old_studies)
    assert Order.objects.get(accession_number="M1").patient_id == "OLD-1"
    assert Study.objects.get(pk=later.pk).patient_id == "NEW-1"
    assert list(priors_for(case)) == [later]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"patient.merge", "patient.merge_undo"} <= actions


def test_a_merge_without_mrg_is_an_error_and_changes_nothing(listener, facility, hospital_a):
    make_study(hospital_a, patient_id="OLD-2", issuer_of_patient_id="ALPHA-MRN")
    broken = patient_merge("ALPHA_RIS", "MG2", surviving="NEW-2", old="OLD-2", family="A",
                           given="B").replace(b"MRG|OLD-2^^^^MR\r", b"")  # fmt: skip
    ack = send(listener, broken)
    assert msa(ack)[0] == "AE" and "MRG" in msa(ack)[2]
    assert not PatientMerge.objects.exists()
    assert Study.objects.get().patient_id == "OLD-2"
