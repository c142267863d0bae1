from django.apps import AppConfig


class ViewerConfig(AppConfig):
    name = "readingcenter.viewer"
    label = "viewer"
    verbose_name = "Viewer"
