"""The viewer (OHIF) and the authorizing DICOMweb proxy in front of Orthanc."""

from __future__ import annotations

from django.urls import path, re_path

from readingcenter.viewer import views

urlpatterns = [
    # reverse("viewer") + "?StudyInstanceUIDs=<uid>" opens a study.
    path("ohif/viewer", views.ohif_viewer, name="viewer"),
    path("ohif/app-config.js", views.ohif_app_config, name="ohif-app-config"),
    re_path(r"^ohif/(?P<path>.*)$", views.ohif, name="ohif"),
    # The same root as Orthanc's DICOMweb, so that the BulkDataURIs it writes lead back here.
    re_path(r"^dicom-web/(?P<path>.*)$", views.dicomweb_proxy, name="dicomweb"),
]
