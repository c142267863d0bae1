"""Two people acknowledging the same result at the same moment record one acknowledgement;
the other gets it back instead of an error."""

from __future__ import annotations

import pytest

from readingcenter.accounts.models import Role, User
from readingcenter.audit.models import AuditEvent
from readingcenter.critical.models import CriticalResult
from readingcenter.critical.services import critical_result_acknowledge
from tests.critical.conftest import BLEED, sign_with_findings
from tests.critical.races import race

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_acknowledgements_record_one(hospital_a, radiologist, hospital_user_a):
    second_user = User.objects.create_user(
        username="alpha.ed", password="x", role=Role.HOSPITAL, hospital=hospital_a
    )
    people = [hospital_user_a, second_user] * 4
    for _round in range(3):
        _report, [result] = sign_with_findings(hospital_a, radiologist, [BLEED])

        def acknowledge(i, result=result):
            return critical_result_acknowledge(
                critical_result_id=result.pk, user=people[i], via="api", name=f"person {i}"
            )

        answers, errors = race(len(people), acknowledge)
        assert errors == []
        assert sum(a.just_acknowledged for a in answers) == 1
        winner = next(a for a in answers if a.just_acknowledged)
        # Everybody got the same, recorded acknowledgement back.
        assert {(a.acknowledged_by_name, a.acknowledged_at) for a in answers} == {
            (winner.acknowledged_by_name, winner.acknowledged_at)
        }
        stored = CriticalResult.objects.get(pk=result.pk)
        assert stored.acknowledged_by_name == winner.acknowledged_by_name
        assert (
            AuditEvent.objects.filter(
                action="critical_result.acknowledge", target_id=str(result.pk)
            ).count()
            == 1
        )
