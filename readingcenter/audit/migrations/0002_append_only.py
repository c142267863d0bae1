from django.db import migrations

from readingcenter.db import forbid_row_changes


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    # The audit trail is append-only in the database itself: whatever the application does,
    # UPDATE and DELETE on a row fail.
    operations = [forbid_row_changes("audit_auditevent", "audit_auditevent is append-only")]
