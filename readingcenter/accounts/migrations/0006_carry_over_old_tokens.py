"""Tokens made before scopes and expiry (DRF's authtoken) keep working for 90 days.

Each becomes an ApiToken with the same key (its hash), the scopes the user's role may hold,
and an expiry 90 days out: integrations have a quarter to ask for a scoped token.
"""

import datetime as dt
import hashlib

from django.db import migrations
from django.utils import timezone

ROLE_SCOPES = {
    "hospital": ["critical:acknowledge", "orders:write", "portal:read"],
    "radiologist": ["portal:read", "reading"],
    "manager": ["critical:acknowledge", "management", "orders:write", "portal:read", "reading"],
    "admin": ["critical:acknowledge", "management", "orders:write", "portal:read", "reading"],
}


def carry_over(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if "authtoken_token" not in connection.introspection.table_names(cursor):
            return
        cursor.execute("select key, user_id from authtoken_token")
        rows = cursor.fetchall()
    ApiToken = apps.get_model("accounts", "ApiToken")
    User = apps.get_model("accounts", "User")
    expires = timezone.now() + dt.timedelta(days=90)
    for key, user_id in rows:
        role = User.objects.get(pk=user_id).role
        ApiToken.objects.get_or_create(
            key_hash=hashlib.sha256(key.encode()).hexdigest(),
            defaults={
                "prefix": key[:8],
                "user_id": user_id,
                "name": "carried over from an unscoped token",
                "scopes": ROLE_SCOPES.get(role, []),
                "expires_at": expires,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_api_tokens")]

    operations = [migrations.RunPython(carry_over, migrations.RunPython.noop)]
