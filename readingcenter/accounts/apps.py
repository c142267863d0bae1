from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "readingcenter.accounts"
    label = "accounts"
    verbose_name = "Accounts"
