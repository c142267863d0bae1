"""The viewer (OHIF) and the authorizing DICOMweb proxy in front of Orthanc."""

from __future__ import annotations

urlpatterns: list = []
