"""The hospitals' side, simulated: what sends studies to the reading center and gets its reports.

``synthetic`` makes seeded synthetic DICOM studies (head CT, chest radiographs, MR) with known
findings; ``sender`` C-STOREs them the way a hospital PACS does; ``hospital_systems`` runs a
hospital's PACS, HL7 v2 interface engine and FHIR server that the delivery outbox sends to.
The demo, the tests and the triage model training (``triage.core.train``) use it.

It stands outside the Django project on purpose: it imports no Django and nothing of
``readingcenter``, so a hospital's side never depends on the reading center's code.
"""
