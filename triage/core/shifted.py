"""The shifted validation sources a recipe is measured on: other drawings, never trained on.

Each source draws a study as DICOM series, the way it would reach the worker, so a model is
measured through the hospital's path (series selection, framing, input checks). Sources:

* ``simulator``: the demo hospitals' simulator (``simulator.synthetic``), written before and
  apart from the training generator, in its own shifted look (``Appearance.shifted()``: more
  noise, subtler and smaller lesions) and at slice counts and matrices it varies itself;
* the independent families of ``triage.core.validation.families`` (drawn by another hand, with
  their own code and parameters, without sight of the training generator).

The order is part of every study's seed (``default_rng([seed, 7, position, i])`` in
``train.score_family``): new sources are appended, never inserted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simulator.synthetic import Appearance, chest_radiograph, head_ct
from triage.core.validation.families import FAMILIES

Draw = Callable[[np.random.Generator, bool], list[list]]


def _simulator_head(rng: np.random.Generator, positive: bool) -> list[list]:
    slices = int(rng.integers(16, 41))
    size = int(rng.choice([256, 512]))
    appearance = Appearance.shifted() if rng.uniform() < 0.5 else Appearance()
    return [head_ct(rng=rng, slices=slices, size=size, bleed=positive, appearance=appearance)]


def _simulator_chest(rng: np.random.Generator, positive: bool) -> list[list]:
    appearance = Appearance.shifted() if rng.uniform() < 0.5 else Appearance()
    mono1 = bool(rng.uniform() < 0.5)
    return [
        chest_radiograph(
            rng=rng, size=512, pneumothorax=positive, monochrome1=mono1, appearance=appearance
        )
    ]


_SIMULATOR = {
    "head-ct-ich": (
        "the demo's hospital simulator (simulator.synthetic.head_ct): 16-40 slices of 256 or "
        "512, half in Appearance.shifted() (noise x2, lesion contrast x0.45, size x0.6); "
        "intraparenchymal and subdural bleeds",
        _simulator_head,
    ),
    "cxr-pneumothorax": (
        "the demo's hospital simulator (simulator.synthetic.chest_radiograph): 512 px CR/DX, "
        "MONOCHROME1 or 2, half in Appearance.shifted()",
        _simulator_chest,
    ),
}


def _family_draw(family) -> Draw:
    def draw(rng: np.random.Generator, positive: bool) -> list[list]:
        return [family.draw(rng, positive=positive).datasets]

    return draw


def shifted_sources(task: str) -> dict[str, tuple[str, Draw]]:
    """name -> (description, draw(rng, positive) -> DICOM series) for one task."""
    sources = {"simulator": _SIMULATOR[task]}
    for name, family in FAMILIES.get(task, {}).items():
        sources[name] = (family.description, _family_draw(family))
    return sources
