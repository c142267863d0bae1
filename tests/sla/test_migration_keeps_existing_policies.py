"""A policy saved before clocks existed comes through the migration as it was meant then:
24/7, to the final report."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("sla", "0001_initial")]
AFTER = [("sla", "0002_clocks_calendars_escalation")]


def test_an_old_policy_row_is_24_7_to_the_final_after_the_migration(hospital_a):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps.get_model("sla", "SlaPolicy")
        old.objects.create(
            hospital_id=hospital_a.pk, priority="stat", target_minutes=30, at_risk_percent=75
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(AFTER)
    try:
        from readingcenter.sla.models import SlaPolicy

        policy = SlaPolicy.objects.get(hospital=hospital_a, priority="stat")
        assert (policy.clock_end, policy.calendar, policy.target_minutes) == ("final", "24x7", 30)
    finally:
        # Back to the newest schema: the tests after this one need every table (a server
        # started later found sla_coveragealert missing when this stopped at 0002).
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
