from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    name = "readingcenter.followups"
    label = "followups"
    verbose_name = _("Follow-up recommendations")

    def ready(self) -> None:
        from readingcenter.followups import jobs, subscribers  # noqa: F401 - registers them
