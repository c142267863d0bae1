"""Indexes the turnaround figures read, on the worklist's table.

They live here, not in worklist.Case.Meta, because only analytics reads through them; RunSQL
keeps the worklist's migration state untouched (makemigrations sees nothing for it).

Every analytics query is "signed cases whose final report was signed in a period", for all
hospitals (managers) or one (hospital users, the monthly SLA report). Both indexes are partial
(signed rows only) and carry the columns the aggregates read, so a month of a million-study
archive is an index-only range scan instead of a sequential scan of the whole table.
"""

from django.db import migrations

COLUMNS = "hospital_id, priority, modality, claimed_by_id, arrived_at, due_at, preliminary_at"

CREATE = [
    f"""create index if not exists analytics_case_signed_idx on worklist_case (signed_at)
        include ({COLUMNS}) where state = 'signed'""",
    f"""create index if not exists analytics_case_hospital_signed_idx
        on worklist_case (hospital_id, signed_at) include ({COLUMNS}) where state = 'signed'""",
]
DROP = [
    "drop index if exists analytics_case_signed_idx",
    "drop index if exists analytics_case_hospital_signed_idx",
]


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0001_initial"),
        ("worklist", "0002_case_preliminary_at"),
    ]

    operations = [migrations.RunSQL(sql=CREATE, reverse_sql=DROP)]
