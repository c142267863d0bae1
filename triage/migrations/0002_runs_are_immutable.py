from django.db import migrations

from readingcenter.db import forbid_row_changes


class Migration(migrations.Migration):
    dependencies = [("triage", "0001_initial")]

    # A triage run records what the AI said at the time; the database refuses to change it.
    operations = [forbid_row_changes("triage_triagerun", "triage_triagerun rows are immutable")]
