"""The registry of shifted validation families: ``FAMILIES[task][name]``.

Tasks are the triage models' names. A family's index in its task (the order below) is part of
``evaluate.draw_set``'s seeds: append new families, never reorder, so that a published set
stays reproducible.
"""

from __future__ import annotations

from triage.core.validation import chest_detector, chest_geometric, head_geometric, head_scanner
from triage.core.validation.series import Family

__all__ = ["FAMILIES", "Family"]


def _family(task: str, name: str, module) -> Family:
    return Family(name=name, task=task, description=module.DESCRIPTION, draw=module.draw)


FAMILIES: dict[str, dict[str, Family]] = {
    "head-ct-ich": {
        "geometric": _family("head-ct-ich", "geometric", head_geometric),
        "scanner": _family("head-ct-ich", "scanner", head_scanner),
    },
    "cxr-pneumothorax": {
        "geometric": _family("cxr-pneumothorax", "geometric", chest_geometric),
        "detector": _family("cxr-pneumothorax", "detector", chest_detector),
    },
}
