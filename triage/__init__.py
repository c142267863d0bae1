"""AI triage (issue 3). Its core (series selection, preprocessing, models, inference) imports
no Django; the Django side (TriageRun records, jobs, services) sits beside it."""
