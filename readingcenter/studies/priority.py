"""Where a study's priority comes from: every signal, each with the reason it gives.

The study's priority is the most urgent signal. Automatic signals only ever raise it; a
radiologist or manager may set it either way, and that decision then stands against them.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass

from readingcenter import hooks
from readingcenter.studies.models import Priority

# Words that mean "read this now" in descriptions hospitals write. Word boundaries matter:
# "STATUS" is not STAT, "ESTATE" is not either.
STAT_WORDS = re.compile(r"\b(STAT|CODE\s*STROKE|STROKE|TRAUMA|MAJOR\s+TRAUMA)\b", re.IGNORECASE)
URGENT_WORDS = re.compile(r"\b(URGENT|ASAP)\b", re.IGNORECASE)
# The emergency department, as hospitals in the West, Korea (응급) and China (急诊) write it.
EMERGENCY_DEPARTMENT = re.compile(
    r"(\b(ED|ER|A&E|EMERG(ENCY)?(\s+(DEPARTMENT|DEPT|ROOM))?)\b|응급|急诊|急診)", re.IGNORECASE
)


@dataclass(frozen=True)
class Signal:
    priority: Priority
    reason: str


def signals(study) -> list[Signal]:
    found: list[Signal] = []
    if study.order_id:
        order = study.order
        found.append(
            Signal(
                Priority(order.priority),
                f"ordered {order.get_priority_display()} (order {order.accession_number})",
            )
        )
    if study.requested_procedure_priority:
        # A header value we cannot read (free text) simply carries no signal.
        with contextlib.suppress(ValueError):
            value = Priority.parse(study.requested_procedure_priority)
            found.append(
                Signal(
                    value,
                    f"the request from the scanner marks it {study.requested_procedure_priority}",
                )
            )
    for label, text in [
        ("the study description", study.study_description),
        ("the requested procedure", study.requested_procedure_description),
    ]:
        if match := STAT_WORDS.search(text or ""):
            found.append(Signal(Priority.STAT, f"{label} says “{match.group(0)}”"))
        elif match := URGENT_WORDS.search(text or ""):
            found.append(Signal(Priority.URGENT, f"{label} says “{match.group(0)}”"))
    # Hook "studies.priority_signals", gather(study=): each answer a list of further automatic
    # signals (triage: a positive AI flag on the study as it is now).
    for more in hooks.gather("studies.priority_signals", study=study):
        found.extend(more)
    if study.patient_location and EMERGENCY_DEPARTMENT.search(study.patient_location):
        found.append(
            Signal(
                Priority.URGENT,
                f"the patient is in the emergency department ({study.patient_location})",
            )
        )
    return found


def most_urgent(found: list[Signal]) -> Signal | None:
    return min(found, key=lambda s: Priority.rank(s.priority), default=None)
