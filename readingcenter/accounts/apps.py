from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "readingcenter.accounts"
    label = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from readingcenter.accounts import (  # noqa: F401 - checks and the schema register
            checks,
            schema,
            signals,
        )

        user_logged_in.connect(signals.audit_login, dispatch_uid="audit_login")
        user_login_failed.connect(signals.audit_login_failed, dispatch_uid="audit_login_failed")
