from django.apps import AppConfig


class FollowupsConfig(AppConfig):
    name = "readingcenter.followups"
    label = "followups"
    verbose_name = "Follow-up recommendations"

    def ready(self) -> None:
        from readingcenter.followups import jobs, subscribers  # noqa: F401 - registers them
