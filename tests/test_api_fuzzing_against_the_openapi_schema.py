"""Schemathesis against the live OpenAPI schema, for every role: no server errors, and every
documented answer matches its schema.

The project runs under daphne on the test database; the schema is read from the running
server (/api/schema/), and each operation gets a bounded number of generated requests
(API_FUZZ_EXAMPLES, default 4) as a manager, a radiologist and a hospital's system, each with
a token holding every scope (the role decides, as in production). Counts are printed.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import api_as

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "4"))
# The lines of a Schemathesis failure that say what broke.
KEYS = ("violates", "is not", "Server error", "Schema at")


@pytest.mark.slow
def test_generated_requests_get_no_server_error_and_answers_match_the_schema(
    live_server_daphne, manager, radiologist, hospital_user_a, case_for_fuzzing
):
    url = live_server_daphne
    schema = schemathesis.openapi.from_url(f"{url}/api/schema/")
    roles = {
        "manager": api_as(manager)._credentials["HTTP_AUTHORIZATION"],
        "radiologist": api_as(radiologist)._credentials["HTTP_AUTHORIZATION"],
        "hospital system": api_as(hospital_user_a)._credentials["HTTP_AUTHORIZATION"],
    }
    calls: Counter[str] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for role, authorization in roles.items():
            _fuzz(operation, role, authorization, url, calls, failures)()
    print(
        f"\nschemathesis: {len(operations)} operations x {len(roles)} roles, "
        f"{sum(calls.values())} calls by status class {dict(sorted(calls.items()))}; "
        f"{len(failures)} failures"
    )
    assert not failures, "\n".join(sorted(set(failures)))
    assert calls["5xx"] == 0
    assert sum(calls.values()) >= len(operations) * len(roles)


def _fuzz(operation, role, authorization, url, calls, failures):
    """A Hypothesis test of one operation as one role."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case):
        response = case.call(base_url=url, headers={"Authorization": authorization})
        calls[f"{response.status_code // 100}xx"] += 1
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - reported together
            said = [line.strip() for line in str(exc).splitlines()]
            found = " | ".join(line for line in said if any(k in line for k in KEYS))
            failures.append(f"{role} {case.method} {case.formatted_path}: {found or exc}"[:400])

    return run


@pytest.fixture
def case_for_fuzzing(hospital_a):
    """Something on the worklist, so that generated ids sometimes name a real object."""
    from tests.factories import make_case

    return make_case(hospital_a, patient_name="Kim^Minji", study_description="CT HEAD")
