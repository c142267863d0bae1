"""The formats a signed report travels in: PDF, DICOM (SR and Encapsulated PDF), HL7 v2, FHIR.

Each is a pure function of a ``ReportDocument`` (and, where it carries one, the PDF's bytes):
no models, no database, no clock, so a retry days later sends byte for byte what was signed,
and each format can be checked on its own. ``common`` holds what they must agree on: how a
name and a time are written, which sections exist, how UIDs are derived.
"""
