from django.db import migrations

from readingcenter.db import forbid_changes_once


class Migration(migrations.Migration):
    dependencies = [("reports", "0001_initial")]

    operations = [
        forbid_changes_once(
            "reports_report", "state", "signed", "a signed report is immutable; write an addendum"
        )
    ]
