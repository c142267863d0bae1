from django.db import migrations

# A triage run records what the AI said at the time; the database itself refuses to change
# or remove one (TRUNCATE, used by test teardown, is not a row change).
FORBID = """
CREATE OR REPLACE FUNCTION triage_triagerun_forbid_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'triage_triagerun rows are immutable: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER triage_triagerun_immutable
    BEFORE UPDATE OR DELETE ON triage_triagerun
    FOR EACH ROW EXECUTE FUNCTION triage_triagerun_forbid_change();
"""

ALLOW = """
DROP TRIGGER IF EXISTS triage_triagerun_immutable ON triage_triagerun;
DROP FUNCTION IF EXISTS triage_triagerun_forbid_change();
"""


class Migration(migrations.Migration):
    dependencies = [("triage", "0001_initial")]

    operations = [migrations.RunSQL(FORBID, ALLOW)]
