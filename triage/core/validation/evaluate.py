"""Reproducible, balanced validation sets drawn from one family.

Study ``i`` of a set is drawn from ``numpy.random.default_rng([seed, 7, family_index, i])``:
the 7 keeps these streams apart from any training scheme that seeds with ``[seed, i]`` or
``[seed, k, i]`` for another k, and the family's index keeps two families' sets apart. Odd
``i`` are positives, even ``i`` negatives: exactly half of an even-sized set holds the finding.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from triage.core.validation.families import FAMILIES
from triage.core.validation.series import Drawn

__all__ = ["draw_set", "iter_set"]

# Marks validation streams (see the module docstring).
VALIDATION_STREAM = 7


def iter_set(task: str, family: str, n: int, seed: int) -> Iterator[Drawn]:
    """The studies of ``draw_set`` one at a time (a 64-slice head CT is tens of megabytes)."""
    names = list(FAMILIES[task])
    index = names.index(family)
    draw = FAMILIES[task][family].draw
    for i in range(n):
        rng = np.random.default_rng([seed, VALIDATION_STREAM, index, i])
        yield draw(rng, positive=i % 2 == 1)


def draw_set(task: str, family: str, n: int, seed: int) -> list[Drawn]:
    """``n`` studies of ``FAMILIES[task][family]``, half positive, reproducible from ``seed``."""
    return list(iter_set(task, family, n, seed))
