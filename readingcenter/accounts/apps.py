from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "readingcenter.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from readingcenter.accounts import (  # noqa: F401 - checks and the schema register
            checks,
            schema,
            signals,
        )

        user_logged_in.connect(signals.audit_login, dispatch_uid="audit_login")
        user_login_failed.connect(signals.audit_login_failed, dispatch_uid="audit_login_failed")
