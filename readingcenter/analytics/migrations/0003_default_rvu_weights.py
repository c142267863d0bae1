"""Shipped RVU weights: approximate work RVUs of the common CPT codes for what we read.

Starting points for a manager to adjust in the admin (Analytics > RVU weights), not a fee
schedule: a migration adds them once and never overwrites an edited row.
"""

from decimal import Decimal

from django.db import migrations

DEFAULTS = [
    # modality, body part, procedure, code, work RVU
    ("CT", "", "", "", "1.00"),
    ("CT", "HEAD", "", "70450", "0.85"),
    ("CT", "CHEST", "", "71250", "1.16"),
    ("CT", "ABDOMEN", "", "74176", "1.74"),
    ("CT", "", "CT angiography head", "70496", "1.75"),
    ("MR", "", "", "", "1.50"),
    ("MR", "BRAIN", "", "70551", "1.48"),
    ("MR", "SPINE", "", "72141", "1.48"),
    ("CR", "", "", "", "0.20"),
    ("CR", "CHEST", "", "71046", "0.22"),
    ("DX", "", "", "", "0.20"),
    ("DX", "CHEST", "", "71046", "0.22"),
    ("DX", "KNEE", "", "73562", "0.18"),
    ("US", "", "", "", "0.60"),
    ("US", "ABDOMEN", "", "76700", "0.81"),
    ("MG", "", "", "77067", "0.76"),
    ("NM", "", "", "", "1.00"),
    ("PT", "", "", "78815", "2.07"),
]


def add(apps, schema_editor):
    RvuWeight = apps.get_model("analytics", "RvuWeight")
    for modality, body_part, procedure, code, rvu in DEFAULTS:
        RvuWeight.objects.get_or_create(
            modality=modality,
            body_part=body_part,
            procedure=procedure,
            defaults={"code": code, "rvu": Decimal(rvu)},
        )


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_turnaround_indexes")]

    operations = [migrations.RunPython(add, migrations.RunPython.noop)]
