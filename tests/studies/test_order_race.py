from __future__ import annotations

import threading

import pytest
from django.db import connection

from readingcenter.studies.models import Order
from tests.conftest import api_as
from tests.factories import make_study


@pytest.mark.django_db(transaction=True)
def test_two_systems_posting_the_same_order_at_once_create_one_and_match_it_once(
    hospital_user_a, hospital_a
):
    study = make_study(hospital_a, accession_number="RACE-1")
    payload = {"accession_number": "RACE-1", "requested_procedure": "CT head", "priority": "STAT"}
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    clients = [api_as(hospital_user_a) for _ in range(4)]

    def post(client):
        try:
            barrier.wait()
            statuses.append(client.post("/api/v1/orders/", payload, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [201, 400, 400, 400]
    assert Order.objects.count() == 1
    study.refresh_from_db()
    assert study.order == Order.objects.get()
