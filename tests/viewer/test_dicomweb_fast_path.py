"""Frames of a study the full path just allowed are relayed without Django's request cycle,
and only those: another credential, another study, an expired or withdrawn grant, a Host
Django would refuse, all fall through to the full path (which decides and audits)."""

from __future__ import annotations

import asyncio

import pytest
from django.test import Client

from readingcenter.viewer import dicomweb_fast, grants
from tests.conftest import api_as
from tests.viewer.dicomweb_helpers import FRAME_ACCEPT, direct, multipart_parts
from tests.viewer.dicomweb_helpers import store_study as _store


@pytest.fixture(autouse=True)
def _fresh_caches():
    grants.forget_all()
    yield
    grants.forget_all()


@pytest.fixture
def study_a(orthanc, hospital_a, tmp_path):
    return _store(orthanc, tmp_path / "a", aet="ALPHA_CT", PatientID="ALPHA-P1")


def _frame(orthanc, uid: str) -> str:
    series = direct(orthanc, f"studies/{uid}/series").json()
    series_uid = series[0]["0020000E"]["Value"][0]
    instances = direct(orthanc, f"studies/{uid}/series/{series_uid}/instances").json()
    sop_uid = instances[0]["00080018"]["Value"][0]
    return f"studies/{uid}/series/{series_uid}/instances/{sop_uid}/frames/1"


def _serve(path: str, headers: dict[str, str]) -> tuple[bool, dict, bytes]:
    """Run the fast path on one ASGI request; (served?, response headers, body)."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": f"/dicom-web/{path}",
        "query_string": b"",
        "scheme": "http",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    served = asyncio.run(dicomweb_fast.serve(scope, receive, send))
    start = next((m for m in sent if m["type"] == "http.response.start"), {})
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return served, {k.decode(): v.decode() for k, v in start.get("headers", [])}, body


def _session(user) -> tuple[Client, dict[str, str]]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    return client, {"Host": "127.0.0.1", "Accept": FRAME_ACCEPT, "Cookie": f"sessionid={cookie}"}


def test_after_the_study_is_opened_its_frames_come_through_the_fast_path(
    orthanc, study_a, hospital_user_a
):
    uid = study_a.study_instance_uid
    frame = _frame(orthanc, uid)
    client, headers = _session(hospital_user_a)
    # Before the study is opened through the full path, nothing is served here.
    assert _serve(frame, headers)[0] is False
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 200
    served, response_headers, received = _serve(frame, headers)
    assert served
    own = direct(orthanc, frame, accept=FRAME_ACCEPT)
    assert response_headers["cache-control"] == "private, no-store"
    assert multipart_parts(response_headers["content-type"], received) == multipart_parts(
        own.headers["Content-Type"], own.content
    )


def test_another_users_session_or_another_study_falls_through(
    orthanc, study_a, hospital_user_a, hospital_user_b, tmp_path
):
    uid = study_a.study_instance_uid
    frame = _frame(orthanc, uid)
    client, headers = _session(hospital_user_a)
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 200
    _, other = _session(hospital_user_b)
    assert _serve(frame, other)[0] is False
    assert _serve(frame, {**headers, "Cookie": "sessionid=forged"})[0] is False
    # The same session, a study it never opened.
    other_frame = frame.replace(uid, uid + ".9")
    assert _serve(other_frame, headers)[0] is False


def test_a_token_client_is_remembered_by_its_token(orthanc, study_a, hospital_user_a):
    uid = study_a.study_instance_uid
    frame = _frame(orthanc, uid)
    client = api_as(hospital_user_a)
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 200
    token = client._credentials["HTTP_AUTHORIZATION"]
    headers = {"Host": "127.0.0.1", "Accept": FRAME_ACCEPT, "Authorization": token}
    assert _serve(frame, headers)[0] is True
    assert _serve(frame, {**headers, "Authorization": "Token not-the-token"})[0] is False
    assert _serve(frame, {**headers, "Authorization": "Basic bm9ib2R5Og=="})[0] is False


def test_an_expired_grant_or_a_host_django_refuses_falls_through(
    orthanc, study_a, hospital_user_a, settings
):
    uid = study_a.study_instance_uid
    frame = _frame(orthanc, uid)
    client, headers = _session(hospital_user_a)
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 200
    assert _serve(frame, {**headers, "Host": "evil.example"})[0] is False
    grants.studies_forget()
    assert _serve(frame, headers)[0] is False


def test_a_fresh_no_from_the_full_path_stops_the_fast_path_at_once(
    orthanc, study_a, radiologist, hospital_a
):
    uid = study_a.study_instance_uid
    frame = _frame(orthanc, uid)
    client, headers = _session(radiologist)
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 200
    assert _serve(frame, headers)[0] is True
    radiologist.privileges.filter(hospital=hospital_a).delete()
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 404
    assert _serve(frame, headers)[0] is False


def test_orthanc_down_falls_through_to_the_full_path(orthanc, study_a, hospital_user_a):
    uid = study_a.study_instance_uid
    frame = _frame(orthanc, uid)
    client, headers = _session(hospital_user_a)
    assert client.get(f"/dicom-web/studies/{uid}/series").status_code == 200
    orthanc.stop(kill=True)
    assert _serve(frame, headers)[0] is False
