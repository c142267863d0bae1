"""The viewer's DICOMweb: Orthanc's answers for studies the user may see, 404 for the rest."""

from __future__ import annotations

import json
import socket
import time

import pytest
from django.test import Client

from readingcenter.audit.models import AuditEvent
from readingcenter.errors import NotFound
from readingcenter.viewer.routes import parse_route
from tests.conftest import api_as
from tests.pacs.dicom_files import BBMRI, FLAIR, c_store, follow_until, new_study
from tests.viewer.dicomweb_helpers import FRAME_ACCEPT, JSON, body, direct, multipart_parts
from tests.viewer.dicomweb_helpers import store_study as _store

OPEN = "study.images.open"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def study_a(orthanc, hospital_a, tmp_path):
    return _store(orthanc, tmp_path / "a", aet="ALPHA_CT", PatientID="ALPHA-P1")


def _first_instance(orthanc, uid: str) -> tuple[str, str]:
    series = direct(orthanc, f"studies/{uid}/series").json()
    series_uid = series[0]["0020000E"]["Value"][0]
    instances = direct(orthanc, f"studies/{uid}/series/{series_uid}/instances").json()
    return series_uid, instances[0]["00080018"]["Value"][0]


def test_a_user_who_may_see_the_study_gets_orthancs_own_answers(orthanc, study_a, hospital_user_a):
    uid = study_a.study_instance_uid
    series_uid, sop_uid = _first_instance(orthanc, uid)
    client = logged_in(hospital_user_a)

    for path in (
        f"studies?StudyInstanceUID={uid}",
        f"studies/{uid}/series",
        f"studies/{uid}/series/{series_uid}/metadata",
    ):
        response = client.get(f"/dicom-web/{path}", HTTP_ACCEPT=JSON)
        assert response.status_code == 200, (path, body(response)[:300])
        assert response["Content-Type"] == JSON
        assert json.loads(body(response)) == direct(orthanc, path).json(), path
        assert response["Cache-Control"] == "private, no-store"

    frame = f"studies/{uid}/series/{series_uid}/instances/{sop_uid}/frames/1"
    response = client.get(f"/dicom-web/{frame}", HTTP_ACCEPT=FRAME_ACCEPT)
    assert response.status_code == 200
    own = direct(orthanc, frame, accept=FRAME_ACCEPT)
    # The boundary is Orthanc's, passed through; the pixels are the same bytes.
    assert response["Content-Type"].startswith('multipart/related; type="application/octet-stream')
    assert "boundary=" in response["Content-Type"]
    received = body(response)
    assert int(response["Content-Length"]) == len(received) == len(own.content)
    assert multipart_parts(response["Content-Type"], received) == multipart_parts(
        own.headers["Content-Type"], own.content
    )
    assert len(multipart_parts(own.headers["Content-Type"], own.content)[0]) == 288 * 288 * 2


@pytest.mark.parametrize("chunk_size", [64 * 1024, 1024 * 1024])
def test_answers_larger_than_a_chunk_are_streamed_unchanged(
    orthanc, study_a, hospital_user_a, settings, chunk_size
):
    settings.DICOMWEB_CHUNK_SIZE = chunk_size
    uid = study_a.study_instance_uid
    series_uid, sop_uid = _first_instance(orthanc, uid)
    client = logged_in(hospital_user_a)
    whole_series = f"studies/{uid}/series/{series_uid}"
    frame = f"{whole_series}/instances/{sop_uid}/frames/1"
    for path, accept in ((whole_series, 'multipart/related; type="application/dicom"'),
                         (frame, FRAME_ACCEPT)):  # fmt: skip
        response = client.get(f"/dicom-web/{path}", HTTP_ACCEPT=accept)
        assert response.status_code == 200
        own = direct(orthanc, path, accept=accept)
        received = body(response)
        # A frame of 166 KB fits a 1 MiB chunk (read with the headers); the series never does.
        assert response.streaming == (len(own.content) > chunk_size or path == whole_series)
        assert multipart_parts(response["Content-Type"], received) == multipart_parts(
            own.headers["Content-Type"], own.content
        )
    assert len(multipart_parts(response["Content-Type"], received)) == 1


def test_bulk_data_uris_in_metadata_point_back_at_the_proxy(orthanc, study_a, manager):
    uid = study_a.study_instance_uid
    series_uid, _ = _first_instance(orthanc, uid)
    response = api_as(manager).get(
        f"/dicom-web/studies/{uid}/series/{series_uid}/metadata", HTTP_ACCEPT=JSON
    )
    uris = [
        value["BulkDataURI"]
        for instance in json.loads(body(response))
        for value in instance.values()
        if "BulkDataURI" in value
    ]
    assert uris
    assert all(u.startswith(f"http://testserver/dicom-web/studies/{uid}/") for u in uris)
    # The proxy answers what the viewer then asks at such a URI.
    pixel_data = uris[0].removeprefix("http://testserver")
    response = api_as(manager).get(pixel_data, HTTP_ACCEPT=FRAME_ACCEPT)
    assert response.status_code == 200
    assert len(body(response)) > 288 * 288


def test_an_api_client_with_a_token_is_served_too(orthanc, study_a, hospital_user_a):
    uid = study_a.study_instance_uid
    response = api_as(hospital_user_a).get(f"/dicom-web/studies/{uid}/series", HTTP_ACCEPT=JSON)
    assert response.status_code == 200
    assert len(json.loads(body(response))) == 1


def test_an_anonymous_request_gets_401_with_a_code(orthanc, study_a):
    uid = study_a.study_instance_uid
    for path in ("studies", f"studies/{uid}/series", "nonsense"):
        response = Client().get(f"/dicom-web/{path}", HTTP_ACCEPT=JSON)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"] == "Token"


def test_a_wrong_token_gets_401(orthanc, study_a):
    response = Client().get("/dicom-web/studies", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_a_hospital_user_of_another_hospital_gets_404_for_everything_of_the_study(
    orthanc, study_a, hospital_user_b
):
    uid = study_a.study_instance_uid
    series_uid, sop_uid = _first_instance(orthanc, uid)
    client = logged_in(hospital_user_b)
    paths = [
        f"studies/{uid}/series",
        f"studies/{uid}/series/{series_uid}/metadata",
        f"studies/{uid}/series/{series_uid}/instances/{sop_uid}/frames/1",
        f"studies/{uid}",
    ]
    for path in paths:
        response = client.get(f"/dicom-web/{path}", HTTP_ACCEPT=FRAME_ACCEPT)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    # ... the same as a study that does not exist at all.
    missing = client.get("/dicom-web/studies/1.2.3.4/series", HTTP_ACCEPT=JSON)
    assert (missing.status_code, missing.json()) == (404, response.json())
    # A search naming the study finds nothing.
    search = client.get(f"/dicom-web/studies?StudyInstanceUID={uid}", HTTP_ACCEPT=JSON)
    assert (search.status_code, json.loads(body(search))) == (200, [])
    # Every refusal is on the audit trail; nothing was opened.
    refused = AuditEvent.objects.filter(actor=hospital_user_b, outcome="not_found")
    assert refused.count() == len(paths) + 1
    assert set(refused.values_list("target_id", flat=True)) == {uid, "1.2.3.4"}
    assert not AuditEvent.objects.filter(action=OPEN).exists()


def test_a_radiologist_without_privileges_at_the_hospital_gets_404_and_no_search_hits(
    orthanc, study_a, radiologist_b_only, radiologist
):
    uid = study_a.study_instance_uid
    outsider, reader = api_as(radiologist_b_only), api_as(radiologist)
    assert outsider.get(f"/dicom-web/studies/{uid}/series").status_code == 404
    assert reader.get(f"/dicom-web/studies/{uid}/series").status_code == 200
    search = outsider.get("/dicom-web/studies?PatientID=ALPHA-P1", HTTP_ACCEPT=JSON)
    assert json.loads(body(search)) == []


def test_withdrawn_privileges_stop_the_frames_of_an_open_study_within_the_grant_time(
    orthanc, study_a, radiologist, hospital_a, settings
):
    settings.DICOMWEB_GRANT_SECONDS = 2
    uid = study_a.study_instance_uid
    series_uid, sop_uid = _first_instance(orthanc, uid)
    frame = f"/dicom-web/studies/{uid}/series/{series_uid}/instances/{sop_uid}/frames/1"
    client = api_as(radiologist)
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 200
    radiologist.privileges.filter(hospital=hospital_a).delete()
    # The frames of the study he has open keep coming for the grant time, then stop.
    assert client.get(frame, HTTP_ACCEPT=FRAME_ACCEPT).status_code == 200
    time.sleep(2.1)
    assert client.get(frame, HTTP_ACCEPT=FRAME_ACCEPT).status_code == 404


def test_opening_a_study_is_decided_afresh_and_a_no_ends_the_grant_at_once(
    orthanc, study_a, radiologist, hospital_a, settings
):
    settings.DICOMWEB_GRANT_SECONDS = 60
    uid = study_a.study_instance_uid
    series_uid, sop_uid = _first_instance(orthanc, uid)
    frame = f"/dicom-web/studies/{uid}/series/{series_uid}/instances/{sop_uid}/frames/1"
    client = api_as(radiologist)
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 200
    radiologist.privileges.filter(hospital=hospital_a).delete()
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 404
    assert client.get(frame, HTTP_ACCEPT=FRAME_ACCEPT).status_code == 404


def test_a_search_by_patient_id_lists_only_the_studies_the_user_may_see(
    orthanc, hospital_a, hospital_b, hospital_user_a, radiologist, tmp_path
):
    # Two hospitals can give two different people the same medical record number.
    own = _store(orthanc, tmp_path / "a", aet="ALPHA_CT", PatientID="MRN-7")
    other = _store(orthanc, tmp_path / "b", aet="BETA_CT", sources=BBMRI[:2], PatientID="MRN-7")
    for level in ("studies", "series", "instances"):
        assert len(direct(orthanc, f"{level}?PatientID=MRN-7").json()) > 1
        for client, expected in (
            (logged_in(hospital_user_a), {own.study_instance_uid}),
            (api_as(radiologist), {own.study_instance_uid, other.study_instance_uid}),
        ):
            response = client.get(f"/dicom-web/{level}?PatientID=MRN-7", HTTP_ACCEPT=JSON)
            assert response.status_code == 200
            found = {entry["0020000D"]["Value"][0] for entry in json.loads(body(response))}
            assert found == expected, level
    search = AuditEvent.objects.filter(actor=hospital_user_a, action="study.images.search")
    assert search.count() == 3
    assert search.filter(detail__results=1, detail__withheld=1, detail__level="studies").exists()


def test_the_open_studys_priors_search_lists_only_that_patient_not_his_namesake_elsewhere(
    orthanc, hospital_a, hospital_b, radiologist, tmp_path
):
    """A reader privileged at both hospitals opens Alpha's MRN-7; the viewer then asks for
    MRN-7's other studies: Beta's MRN-7 is another person and is not offered as a prior."""
    own = _store(orthanc, tmp_path / "a", aet="ALPHA_CT", PatientID="MRN-7")
    other = _store(orthanc, tmp_path / "b", aet="BETA_CT", sources=BBMRI[:2], PatientID="MRN-7")
    client = logged_in(radiologist)
    opened = client.get(f"/dicom-web/studies?StudyInstanceUID={own.study_instance_uid}",
                        HTTP_ACCEPT=JSON)  # fmt: skip
    assert opened.status_code == 200
    response = client.get("/dicom-web/studies?PatientID=MRN-7", HTTP_ACCEPT=JSON)
    found = {entry["0020000D"]["Value"][0] for entry in json.loads(body(response))}
    assert found == {own.study_instance_uid}
    assert other.study_instance_uid not in found


def test_a_search_asked_for_xml_is_refused_because_it_cannot_be_filtered(
    orthanc, study_a, hospital_user_a
):
    response = logged_in(hospital_user_a).get(
        "/dicom-web/studies", HTTP_ACCEPT="application/dicom+xml"
    )
    assert response.status_code == 406
    assert response.json()["code"] == "search_needs_json"


def test_a_uid_shared_by_a_quarantined_conflicting_study_is_404(
    orthanc, study_a, radiologist, hospital_user_a, tmp_path
):
    uid = study_a.study_instance_uid
    _, other = new_study(BBMRI[:2], tmp_path / "twin", study_instance_uid=uid)
    c_store(other, port=orthanc.config.dicom_port, calling_aet="ALPHA_CT")
    twin = follow_until(
        lambda: study_a.__class__.objects.filter(study_instance_uid=uid)
        .exclude(pk=study_a.pk)
        .first()
    )
    assert twin.quarantine_reason == "conflicting_uid"
    # Orthanc answers by UID alone and would mix the two patients' images.
    for user in (radiologist, hospital_user_a):
        client = api_as(user)
        assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 404
        search = client.get(f"/dicom-web/studies?StudyInstanceUID={uid}", HTTP_ACCEPT=JSON)
        assert json.loads(body(search)) == []


def test_orthanc_down_is_a_502_with_a_code_not_a_500(orthanc, study_a, manager):
    orthanc.stop(kill=True)
    client = api_as(manager)
    for path in ("studies?PatientID=ALPHA-P1", f"studies/{study_a.study_instance_uid}/series"):
        response = client.get(f"/dicom-web/{path}", HTTP_ACCEPT=JSON)
        assert response.status_code == 502
        assert response.json()["code"] == "orthanc_unavailable"
        assert str(orthanc.config.http_port) not in response.content.decode()


def test_orthanc_that_does_not_answer_is_a_504(db, study_a, manager, settings):
    # A port that accepts connections and never answers them.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        settings.ORTHANC_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings.ORTHANC_TIMEOUT = 0.5
        response = api_as(manager).get(f"/dicom-web/studies/{study_a.study_instance_uid}/series")
    assert response.status_code == 504
    assert response.json()["code"] == "orthanc_timeout"


def test_orthancs_refusal_of_a_bad_request_is_passed_on_in_our_words(orthanc, study_a, manager):
    uid = study_a.study_instance_uid
    series_uid, sop_uid = _first_instance(orthanc, uid)
    response = api_as(manager).get(
        f"/dicom-web/studies/{uid}/series/{series_uid}/instances/{sop_uid}/frames/99",
        HTTP_ACCEPT=FRAME_ACCEPT,
    )
    assert response.status_code == 400
    assert response.json() == {"code": "dicomweb_refused", "detail": "Parameter out of range"}


def test_only_reads_are_allowed(orthanc, study_a, manager):
    client = logged_in(manager)
    for method in ("post", "put", "delete", "patch"):
        response = getattr(client, method)(f"/dicom-web/studies/{study_a.study_instance_uid}")
        assert response.status_code == 405, method
        assert response.json()["code"] == "method_not_allowed"
        assert response["Allow"] == "GET, HEAD"


def test_head_answers_the_headers_of_a_frame_without_its_body(orthanc, study_a, manager):
    uid = study_a.study_instance_uid
    series_uid, sop_uid = _first_instance(orthanc, uid)
    frame = f"/dicom-web/studies/{uid}/series/{series_uid}/instances/{sop_uid}/frames/1"
    response = api_as(manager).head(frame, HTTP_ACCEPT=FRAME_ACCEPT)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("multipart/related")
    assert int(response["Content-Length"]) > 288 * 288 * 2
    assert body(response) == b""


def test_paths_that_leave_the_study_or_reach_orthancs_other_resources_are_404(
    orthanc, study_a, hospital_a, hospital_user_b, manager, tmp_path
):
    foreign = study_a.study_instance_uid
    own = _store(
        orthanc, tmp_path / "b", aet="BETA_CT", sources=BBMRI[:2], PatientID="BETA-P1"
    ).study_instance_uid
    client = api_as(hospital_user_b)
    assert client.get(f"/dicom-web/studies/{own}/series").status_code == 200
    for path in (
        f"studies/{own}/../../studies/{foreign}/series",
        f"studies/{own}/%2e%2e/%2e%2e/studies/{foreign}/series",
        f"studies/{own}//..//studies/{foreign}/series",
        f"studies/{own}/series/..%2f..%2fstudies",
        "tools/find",
        "servers",
        "studies/not-a-uid/series",
    ):
        response = client.get(f"/dicom-web/{path}", HTTP_ACCEPT=JSON)
        assert response.status_code == 404, path
    assert api_as(manager).get("/dicom-web/servers").status_code == 404
    # Refused for their shape, before any question of whose study it is.
    for path in (f"studies/{own}/../../studies/{foreign}/series", f"studies/{own}//x", "tools"):
        with pytest.raises(NotFound):
            parse_route(path)


def test_opening_a_study_is_audited_once_not_per_request(orthanc, study_a, hospital_user_a):
    uid = study_a.study_instance_uid
    series_uid, sop_uid = _first_instance(orthanc, uid)
    client = logged_in(hospital_user_a)

    def open_like_the_viewer():
        # What OHIF asks, in order, when it opens a study.
        client.get(f"/dicom-web/studies?StudyInstanceUID={uid}", HTTP_ACCEPT=JSON)
        client.get(f"/dicom-web/studies/{uid}/series", HTTP_ACCEPT=JSON)
        client.get(f"/dicom-web/studies/{uid}/series/{series_uid}/metadata", HTTP_ACCEPT=JSON)
        for _ in range(3):
            response = client.get(
                f"/dicom-web/studies/{uid}/series/{series_uid}/instances/{sop_uid}/frames/1",
                HTTP_ACCEPT=FRAME_ACCEPT,
            )
            body(response)

    open_like_the_viewer()
    opened = AuditEvent.objects.get(action=OPEN)
    assert opened.actor == hospital_user_a
    assert (opened.target_type, opened.target_id) == ("studies.study", str(study_a.pk))
    assert opened.hospital_id == study_a.hospital_id
    assert opened.patient_id == "ALPHA-P1"
    assert opened.detail == {"study_instance_uid": uid}
    # Opening it again within the window (a reload) adds nothing; another reader does.
    open_like_the_viewer()
    assert AuditEvent.objects.filter(action=OPEN).count() == 1
    assert not AuditEvent.objects.filter(action="study.images.read").exists()


def test_opening_after_the_window_is_audited_again(
    orthanc, study_a, hospital_user_a, manager, settings
):
    uid = study_a.study_instance_uid
    settings.DICOMWEB_AUDIT_WINDOW = 0
    for _ in range(2):
        api_as(hospital_user_a).get(f"/dicom-web/studies/{uid}/series")
    api_as(manager).get(f"/dicom-web/studies?StudyInstanceUID={uid}", HTTP_ACCEPT=JSON)
    events = AuditEvent.objects.filter(action=OPEN)
    assert events.filter(actor=hospital_user_a).count() == 2
    assert events.filter(actor=manager).count() == 1


def test_a_study_search_across_two_flair_copies_audits_each_opened_study(
    orthanc, hospital_a, manager, tmp_path
):
    first = _store(orthanc, tmp_path / "1", aet="ALPHA_CT", sources=FLAIR[:1])
    second = _store(orthanc, tmp_path / "2", aet="ALPHA_CT", sources=FLAIR[1:2])
    uids = f"{first.study_instance_uid},{second.study_instance_uid}"
    response = api_as(manager).get(f"/dicom-web/studies?StudyInstanceUID={uids}", HTTP_ACCEPT=JSON)
    assert len(json.loads(body(response))) == 2
    opened = AuditEvent.objects.filter(action=OPEN).values_list("target_id", flat=True)
    assert sorted(opened) == sorted([str(first.pk), str(second.pk)])
