from __future__ import annotations

from readingcenter.audit.models import AuditEvent
from tests.factories import make_study


def test_the_manager_board_shows_arriving_complete_and_quarantined_studies(
    client, manager, hospital_a
):
    make_study(hospital_a, status="receiving", patient_name="Arriving^One")
    make_study(hospital_a, status="complete", patient_name="Complete^Two")
    make_study(None, status="quarantined", patient_name="Nobody^Three",
               quarantine_reason="unknown_sender", calling_ae_title="STRANGER")  # fmt: skip
    client.force_login(manager)
    page = client.get("/studies/").content.decode()
    for text in ["Quarantined", "Arriving", "Complete", "Arriving, One", "Complete, Two",
                 "Nobody, Three", "Unknown sending AE title", "STRANGER"]:  # fmt: skip
        assert text in page, text


def test_a_hospital_user_sees_its_own_studies_only_and_no_quarantine(
    client, hospital_user_a, hospital_a, hospital_b
):
    make_study(hospital_a, patient_name="Mine^A")
    make_study(hospital_b, patient_name="Theirs^B")
    make_study(None, status="quarantined", patient_name="Nobody^Q")
    client.force_login(hospital_user_a)
    page = client.get("/studies/").content.decode()
    assert "Mine, A" in page
    assert "Theirs, B" not in page
    assert "Nobody, Q" not in page


def test_another_hospitals_study_page_is_404_and_audited(client, hospital_user_a, hospital_b):
    foreign = make_study(hospital_b)
    client.force_login(hospital_user_a)
    assert client.get(f"/studies/{foreign.id}/").status_code == 404
    assert AuditEvent.objects.filter(actor=hospital_user_a, action="study.read",
                                     outcome="not_found").exists()  # fmt: skip


def test_a_manager_rejects_a_quarantined_study_with_a_reason_and_it_is_kept(client, manager):
    study = make_study(None, status="quarantined", quarantine_reason="unknown_sender")
    client.force_login(manager)
    response = client.post(f"/studies/{study.id}/reject/", {"reason": "test images from vendor"})
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.status == "rejected"
    assert study.events.filter(kind="rejected", detail__reason="test images from vendor").exists()
    assert AuditEvent.objects.filter(action="study.reject", actor=manager).exists()


def test_a_radiologist_cannot_assign_or_reject_quarantined_studies(client, radiologist, hospital_a):
    study = make_study(None, status="quarantined")
    client.force_login(radiologist)
    assert client.post(f"/studies/{study.id}/assign/", {"hospital": "alpha"}).status_code == 403
    assert client.post(f"/studies/{study.id}/reject/", {"reason": "x"}).status_code == 403
    study.refresh_from_db()
    assert study.status == "quarantined"


def test_times_are_shown_in_the_users_time_zone(client, manager, hospital_a):
    manager.time_zone = "Asia/Seoul"
    manager.save()
    make_study(hospital_a)
    client.force_login(manager)
    assert "UTC+9" in client.get("/studies/").content.decode()
