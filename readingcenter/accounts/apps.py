from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "readingcenter.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.backends.signals import connection_created

        from readingcenter.accounts import (  # noqa: F401 - checks and the schema register
            checks,
            schema,
            signals,
        )
        from readingcenter.db import load_timestamps_in_c

        # The lowest of our apps, so every process has this before its first query.
        connection_created.connect(load_timestamps_in_c, dispatch_uid="load_timestamps_in_c")
        user_logged_in.connect(signals.audit_login, dispatch_uid="audit_login")
        user_login_failed.connect(signals.audit_login_failed, dispatch_uid="audit_login_failed")
