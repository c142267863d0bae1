"""The Django-free core of triage: model packages, networks, preprocessing and inference.

Nothing under ``triage.core`` imports Django, so it runs (and is tested) without settings or a
database; the Django side (TriageRun records, jobs, services, admin) sits in ``triage`` beside it.
"""
