"""What the quality app answers on the hook points below it. Imported by its ready()."""

from __future__ import annotations

from readingcenter import hooks
from readingcenter.quality import services


@hooks.subscribe("reports.report_signed")
def report_signed(*, report, user, request) -> None:
    # In the signing transaction: a disagreement exists exactly when the signature does.
    services.disagreements_record(report=report)
    services.peer_review_draw(report=report)
