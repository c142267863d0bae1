"""What the followups app answers on the hook points below it. Imported by its ready()."""

from __future__ import annotations

from readingcenter import hooks
from readingcenter.followups import services


@hooks.subscribe("reports.report_signed")
def report_signed(*, report, user, request) -> None:
    # In the signing transaction: the follow-ups exist exactly when the signature does.
    services.followups_from_report(report=report)


@hooks.subscribe("studies.study_completed")
def study_completed(*, study, version: int) -> None:
    # A prior fetched from the hospital's PACS is not published here: it closes nothing.
    services.followups_close_by_study(study=study)
