"""A tenancy sweep: every API endpoint that names an object, asked by every role for the
other hospital's object of that kind, answers 404 wherever the same caller gets its own.

The endpoints come from the URL configuration, not from a list kept by hand: a new endpoint
is swept the day it is added. Each caller is a token holding every scope, so that only the
role and the hospital decide. Counts are printed.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from readingcenter.critical.services import critical_results_open
from readingcenter.delivery.models import Delivery, DeliveryEndpoint
from readingcenter.studies.services import order_create
from tests.conftest import api_as
from tests.critical.conftest import BLEED, signed_report
from tests.factories import make_case

API = "api/v1/"


def _api_patterns(resolver=None, prefix=""):
    """(route, view name) of every pattern under /api/v1/ that takes a <pk>."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_patterns(entry, route)
        elif isinstance(entry, URLPattern) and route.startswith(API) and "<int:pk>" in route:
            yield route, entry.name


# What object of a hospital each endpoint's <pk> names, by the route's first segment.
KINDS = {
    "studies": "study",
    "orders": "order",
    "worklist": "case",
    "reports": "report",
    "deliveries": "delivery",
    "critical-results": "critical",
    "portal": "study",
    "hospitals": "hospital",
    "peer-reviews": "peer_review",
    "sla": "skip",  # escalation tiers: the center's own configuration, not a hospital's
}


def _objects(hospital, radiologist, hospital_user) -> dict[str, int]:
    case = make_case(hospital, patient_name="Park^Jisoo", study_description="CT HEAD")
    order = order_create(hospital=hospital, actor=hospital_user,
                         accession_number=f"T-{hospital.code}",
                         requested_procedure="CT head")  # fmt: skip
    findings = [BLEED]
    report = signed_report(hospital, radiologist, findings, case=case)
    (critical, *_) = critical_results_open(report=report, actor=radiologist)
    endpoint = DeliveryEndpoint.objects.create(
        hospital=hospital, channel="hl7", name=f"engine-{hospital.code}", host="127.0.0.1", port=1
    )
    delivery = Delivery.objects.create(
        report=report, endpoint=endpoint, hospital=hospital, idempotency_key=f"sweep-{report.pk}"
    )
    from readingcenter.quality.models import PeerReview

    review = PeerReview.objects.create(report=report, hospital=hospital, first_reader=radiologist,
                                       reason="random", modality="CT")  # fmt: skip
    return {
        "peer_review": review.pk,
        "study": case.study_id,
        "order": order.pk,
        "case": case.pk,
        "report": report.pk,
        "delivery": delivery.pk,
        "critical": critical.pk,
        "hospital": hospital.pk,
    }


@pytest.mark.django_db
def test_no_role_reaches_another_hospitals_objects(
    hospital_a, hospital_b, hospital_user_a, hospital_user_b, radiologist_b_only, radiologist
):
    own = _objects(hospital_b, radiologist_b_only, hospital_user_b)
    other = _objects(hospital_a, radiologist, hospital_user_a)
    callers = {"hospital B's system": hospital_user_b, "radiologist at B only": radiologist_b_only}
    tally: Counter[str] = Counter()
    leaks = []
    for route, name in _api_patterns():
        kind = KINDS.get(route[len(API) :].split("/")[0])
        assert kind is not None, f"{route} ({name}): say in KINDS what its <pk> names"
        if kind == "skip":
            continue
        for who, user in callers.items():
            client = api_as(user)
            for method in ("get", "post"):
                mine = getattr(client, method)("/" + route.replace("<int:pk>", str(own[kind])))
                theirs = getattr(client, method)("/" + route.replace("<int:pk>", str(other[kind])))
                assert theirs.status_code < 500, (route, who, method, theirs.status_code)
                if theirs.status_code not in (403, 404, 405):
                    leaks.append((route, who, method, theirs.status_code))
                if mine.status_code < 400 or mine.status_code in (400, 409):
                    # The caller may use this endpoint on its own object: the other's is 404.
                    tally["own answered, other's 404" if theirs.status_code == 404 else "x"] += 1
                    if theirs.status_code != 404:
                        leaks.append((route, who, method, theirs.status_code, "own answered"))
                else:
                    tally[f"refused to the role ({theirs.status_code})"] += 1
    print(f"\ntenancy sweep: {sum(tally.values())} calls: {dict(tally)}")
    assert not leaks, leaks
    assert tally["own answered, other's 404"] >= 8, tally
