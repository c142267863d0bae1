"""`manage.py check --deploy`: what Django's own checks cannot know about this project."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

DEMO_SECRET_PREFIX = "demo-only-insecure-key"  # noqa: S105 - recognising it, not using it


@checks.register(checks.Tags.security, deploy=True)
def production_secrets(app_configs, **kwargs) -> list[checks.CheckMessage]:
    found = []
    if settings.SECRET_KEY.startswith(DEMO_SECRET_PREFIX):
        found.append(
            checks.Error(
                "SECRET_KEY is the demo's, which is public: sessions and tokens could be forged.",
                hint="Set DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) to 50+ random characters.",
                id="readingcenter.E001",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        found.append(
            checks.Error(
                "ALLOWED_HOSTS admits any host name.",
                hint="Set DJANGO_ALLOWED_HOSTS to the names the reading center is served under.",
                id="readingcenter.E002",
            )
        )
    if not getattr(settings, "HTTPS", False):
        found.append(
            checks.Warning(
                "DJANGO_HTTPS is off: no HTTPS redirect, HSTS or secure cookies.",
                hint="Serve over TLS and set DJANGO_HTTPS=true (see README, Configuration).",
                id="readingcenter.W001",
            )
        )
    return found
