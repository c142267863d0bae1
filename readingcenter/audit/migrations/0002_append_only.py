from django.db import migrations

# The audit trail is append-only in the database itself: whatever the application does,
# UPDATE and DELETE on a row fail. (TRUNCATE, a table-level operation used only by test
# teardown and by an operator's deliberate retention job, is not a row change.)
FORBID = """
CREATE OR REPLACE FUNCTION audit_auditevent_forbid_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_forbid_change();
"""

ALLOW = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_forbid_change();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(FORBID, ALLOW)]
