"""Orthanc's index in PostgreSQL, shared by two Orthanc nodes (orthanc-postgresql 4.0).

Real Orthanc processes on one PostgreSQL index and one storage folder, real C-STOREs to each
node, the real follower and sweep. What stays per node is the point: stability is each
node's memory, so a study split across nodes, or a node killed before its StableStudy, must
still be recorded once and completed with all its files.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from io import BytesIO

import pydicom
import pytest
from django.db import connection

from readingcenter.env import database_from_url, orthanc_index_url
from readingcenter.pacs.management.commands.run_orthanc import orthanc_index_from_settings
from readingcenter.pacs.orthanc import OrthancClient, OrthancError
from readingcenter.pacs.orthanc_server import (
    OrthancConfig,
    OrthancServerError,
    PostgresIndex,
)
from readingcenter.studies.ingest import follow_once, sweep
from readingcenter.studies.models import Study, StudyEvent
from tests.pacs.dicom_files import FLAIR, c_store, new_study


def _two_nodes(orthanc_factory, orthanc_index, tmp_path, *, stable_ages=(2, 2)):
    storage = tmp_path / "shared-storage"
    return [
        orthanc_factory(stable_age=age, index=orthanc_index, storage=storage) for age in stable_ages
    ]


def _wait(predicate, timeout=30.0, step=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if step:
            step()
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout}s")


def test_a_node_with_a_postgresql_index_is_configured_to_share_it(tmp_path):
    index = PostgresIndex.from_url("postgresql://orthanc:s%40cret@db.example:6543/center_orthanc")
    assert (index.host, index.port, index.database) == ("db.example", 6543, "center_orthanc")
    assert (index.username, index.password) == ("orthanc", "s@cret")
    config = OrthancConfig(
        directory=tmp_path, http_port=1, dicom_port=2, index=index, storage=tmp_path / "files"
    ).as_json()
    assert config["PostgreSQL"]["EnableIndex"] is True
    assert config["PostgreSQL"]["EnableStorage"] is False  # files stay on the filesystem
    assert config["PostgreSQL"]["Lock"] is False  # several nodes on one index
    assert config["StorageDirectory"] == str(tmp_path / "files")
    assert any(p.endswith("libOrthancPostgreSQLIndex.so") for p in config["Plugins"])
    json.dumps(config)  # what Orthanc reads


def test_a_malformed_index_url_says_what_is_expected():
    with pytest.raises(OrthancServerError, match="postgresql://user@host:port/database"):
        PostgresIndex.from_url("mysql://root@localhost/orthanc")


def test_the_index_is_postgresql_by_default_and_sqlite_when_asked(settings, orthanc_index):
    settings.ORTHANC_INDEX_URL = orthanc_index.url
    index, said = orthanc_index_from_settings()
    assert index == orthanc_index
    assert said.startswith(f"PostgreSQL index {orthanc_index.database}")
    settings.ORTHANC_INDEX_URL = "sqlite"
    index, said = orthanc_index_from_settings()
    assert index is None
    assert "SQLite" in said


def test_the_default_index_database_sits_beside_ours():
    database = database_from_url("postgresql://center:pw@db.internal:5433/readingcenter")
    assert orthanc_index_url(database) == (
        "postgresql://center:pw@db.internal:5433/readingcenter_orthanc"
    )
    index = PostgresIndex.from_url(orthanc_index_url(database))
    assert (index.database, index.username, index.password) == (
        "readingcenter_orthanc",
        "center",
        "pw",
    )


@pytest.mark.django_db(transaction=True)
def test_a_study_split_across_two_nodes_is_one_study_with_every_file(
    orthanc_factory, orthanc_index, hospital_a, tmp_path, settings
):
    a, b = _two_nodes(orthanc_factory, orthanc_index, tmp_path)
    settings.ORTHANC_STABLE_AGE = 2
    uid, files = new_study(FLAIR[:6], tmp_path / "study")
    # Alternate files between the nodes, as a load balancer in front of them would.
    c_store(files[0::2], port=a.config.dicom_port, calling_aet="ALPHA_CT")
    c_store(files[1::2], port=b.config.dicom_port, calling_aet="ALPHA_CT")
    # Both nodes hold the whole study: one index, one storage folder.
    for node in (a, b):
        (only,) = node.client().study_ids()
        assert len(node.client().study_series(only)[0]["Instances"]) == 6

    # One follower per node, racing on the one cursor over the one shared change log.
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def follower(client):
        try:
            start.wait()
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                follow_once(client=client, batch_size=3)
                study = Study.objects.filter(study_instance_uid=uid).first()
                if study and study.status == "complete" and study.instance_count == 6:
                    break
                time.sleep(0.1)
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=follower, args=(n.client(),)) for n in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    (study,) = Study.objects.filter(study_instance_uid=uid)
    assert (study.status, study.instance_count, study.series_count) == ("complete", 6, 1)
    assert StudyEvent.objects.filter(study=study, kind="received").count() == 1
    assert study.series.count() == 1


@pytest.mark.django_db(transaction=True)
def test_stability_lost_with_a_killed_node_is_caught_by_the_sweep(
    orthanc_factory, orthanc_index, hospital_a, tmp_path, settings
):
    # Node b would call the study stable only after a minute: it is killed long before.
    a, b = _two_nodes(orthanc_factory, orthanc_index, tmp_path, stable_ages=(1, 60))
    settings.ORTHANC_STABLE_AGE = 3
    uid, files = new_study(FLAIR[:4], tmp_path / "study")
    c_store(files, port=b.config.dicom_port, calling_aet="ALPHA_CT")
    b.stop(kill=True)

    client = a.client()
    study = _wait(
        lambda: Study.objects.filter(study_instance_uid=uid).first(),
        step=lambda: follow_once(client=client),
    )
    assert study.status == "receiving"
    # Node a never received a file of it and so calls it stable at once; the shared index
    # says it changed less than StableAge ago, and the sweep believes the index.
    assert client.study(study.orthanc_id)["IsStable"] is True
    sweep(client=client, older_than=dt.timedelta(0))
    study.refresh_from_db()
    assert study.status == "receiving"

    study = _wait(
        lambda: Study.objects.filter(study_instance_uid=uid, status="complete").first(),
        step=lambda: sweep(client=client, older_than=dt.timedelta(0)),
    )
    assert study.instance_count == 4
    assert StudyEvent.objects.filter(study=study, kind="completed").count() == 1


@pytest.mark.django_db(transaction=True)
def test_files_another_node_adds_after_completion_reopen_the_study_even_if_it_dies(
    orthanc_factory, orthanc_index, hospital_a, tmp_path, settings
):
    a, b = _two_nodes(orthanc_factory, orthanc_index, tmp_path, stable_ages=(1, 60))
    settings.ORTHANC_STABLE_AGE = 1
    uid, files = new_study(FLAIR[:3], tmp_path / "first")
    c_store(files, port=a.config.dicom_port, calling_aet="ALPHA_CT")
    client = a.client()
    study = _wait(
        lambda: Study.objects.filter(study_instance_uid=uid, status="complete").first(),
        step=lambda: follow_once(client=client),
    )
    series_uid = study.series.get().series_instance_uid

    # Two more files of the same series through node b, which dies before its StableStudy:
    # no NewSeries, no StableStudy, nothing in the change log the follower acts on.
    _, late = new_study(
        FLAIR[3:5], tmp_path / "late", study_instance_uid=uid, series_instance_uid=series_uid
    )
    c_store(late, port=b.config.dicom_port, calling_aet="ALPHA_CT")
    b.stop(kill=True)
    follow_once(client=client)
    study.refresh_from_db()
    assert study.instance_count == 3

    study = _wait(
        lambda: Study.objects.filter(
            study_instance_uid=uid, status="complete", instance_count=5
        ).first(),
        step=lambda: sweep(client=client),
    )
    kinds = list(StudyEvent.objects.filter(study=study).values_list("kind", flat=True))
    assert kinds.count("reopened") == 1
    assert kinds.count("completed") == 2


def _study_on_the_first_of_two(orthanc_factory, orthanc_index, tmp_path, n_files: int):
    """Two nodes, a study of ``n_files`` sent to the first, and a client of both (first first)."""
    a, b = _two_nodes(orthanc_factory, orthanc_index, tmp_path)
    _, files = new_study(FLAIR[:n_files], tmp_path / "study")
    c_store(files, port=a.config.dicom_port, calling_aet="ALPHA_CT")
    client = OrthancClient(
        a.config.url, a.config.username, a.config.password, fallbacks=[b.config.url]
    )
    return a, b, files, client


def test_a_client_moves_to_the_next_node_when_its_node_dies(
    orthanc_factory, orthanc_index, tmp_path
):
    a, b, _, client = _study_on_the_first_of_two(orthanc_factory, orthanc_index, tmp_path, 2)
    assert len(client.study_ids()) == 1
    a.stop(kill=True)
    # A read goes to the next node, and the client stays there.
    assert len(client.study_ids()) == 1
    assert client.url == b.config.url
    # A write that never reached the dead node is sent to the live one.
    client.urls = [a.config.url, b.config.url]
    found = client.request("POST", "/tools/find", json={"Level": "Study", "Query": {}}).json()
    assert len(found) == 1
    b.stop(kill=True)
    with pytest.raises(OrthancError, match="unreachable") as raised:
        client.study_ids()
    assert a.config.url in str(raised.value) and b.config.url in str(raised.value)


def test_instance_files_come_whole_over_one_kept_connection_and_survive_a_dropped_one(
    orthanc_factory, orthanc_index, tmp_path
):
    a, b, files, client = _study_on_the_first_of_two(orthanc_factory, orthanc_index, tmp_path, 3)
    # Orthanc stores each file with its own file meta: what requests reads is the reference.
    stored = {}  # SOPInstanceUID -> the file's bytes as Orthanc serves them
    ids = {}  # SOPInstanceUID -> Orthanc id
    for orthanc_id in client.get_json("/instances"):
        data = client.instance_file(orthanc_id)
        assert data == client.request("GET", f"/instances/{orthanc_id}/file").content
        uid = pydicom.dcmread(BytesIO(data)).SOPInstanceUID
        stored[uid], ids[uid] = data, orthanc_id
        if len(ids) == 1:
            kept = client._links.connection
    assert set(ids) == {pydicom.dcmread(f).SOPInstanceUID for f in files}
    assert client._links.connection is kept  # one connection, kept alive across the calls

    # The server side of the kept connection goes away (a node restarted, an idle timeout):
    # the next call opens a new one and still answers.
    kept.sock.close()
    uid, orthanc_id = next(iter(ids.items()))
    assert client.instance_file(orthanc_id) == stored[uid]
    assert client._links.connection is not kept

    # An unknown instance is Orthanc's 404, an OrthancError as from every other call.
    with pytest.raises(OrthancError) as raised:
        client.instance_file("00000000-00000000-00000000-00000000-00000000")
    assert raised.value.is_not_found

    # The node dies: the file comes from the next node (one index, one storage folder), and
    # the client stays there.
    a.stop(kill=True)
    assert client.instance_file(orthanc_id) == stored[uid]
    assert client.url == b.config.url
