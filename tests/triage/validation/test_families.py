"""The registry of shifted validation families: what it holds, what its code may import, and
the reproducible balanced sets drawn from it."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from triage.core.validation.evaluate import draw_set
from triage.core.validation.families import FAMILIES

PACKAGE = Path(__file__).resolve().parents[3] / "triage" / "core" / "validation"
STANDARD = {"__future__", "collections", "dataclasses", "datetime", "functools", "itertools"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module or "")
    return found


def test_each_task_has_at_least_two_families_each_in_its_own_module():
    for task in ("head-ct-ich", "cxr-pneumothorax"):
        families = FAMILIES[task]
        assert len(families) >= 2
        assert len({family.draw.__module__ for family in families.values()}) == len(families)
        for name, family in families.items():
            assert (family.name, family.task) == (name, task)


def test_a_family_is_frozen_and_says_in_one_paragraph_how_it_draws_and_with_what_ranges():
    for families in FAMILIES.values():
        for family in families.values():
            assert "\n\n" not in family.description
            assert "Positives" in family.description
            assert len(re.findall(r"\d+(?:\.\d+)?-\d+", family.description)) >= 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        FAMILIES["head-ct-ich"]["scanner"].name = "renamed"


def test_the_package_needs_only_numpy_pydicom_and_itself():
    for path in PACKAGE.glob("*.py"):
        for module in _imports(path):
            top = module.split(".")[0]
            inside = module.startswith("triage.core.validation")
            assert inside or top in STANDARD | {"numpy", "pydicom"}, f"{path.name}: {module}"


def test_no_family_borrows_another_familys_drawing_code():
    for families in FAMILIES.values():
        for family in families.values():
            path = PACKAGE / f"{family.draw.__module__.rsplit('.', 1)[1]}.py"
            ours = {m for m in _imports(path) if m.startswith("triage")}
            assert ours == {"triage.core.validation.series"}, path.name


def test_a_set_is_half_positive_and_replays_from_its_seed():
    first = draw_set("cxr-pneumothorax", "geometric", 4, seed=11)
    again = draw_set("cxr-pneumothorax", "geometric", 4, seed=11)
    other = draw_set("cxr-pneumothorax", "geometric", 2, seed=12)
    assert [d.positive for d in first] == [False, True, False, True]
    assert [d.finding["type"] for d in first] == ["none", "pneumothorax"] * 2
    assert [d.datasets[0].PixelData for d in first] == [d.datasets[0].PixelData for d in again]
    uids = {d.datasets[0].StudyInstanceUID for d in first}
    assert len(uids) == 4
    assert not uids & {d.datasets[0].StudyInstanceUID for d in other}


def test_a_study_of_a_set_is_its_family_drawn_from_the_documented_seed():
    drawn = draw_set("cxr-pneumothorax", "detector", 2, seed=5)[1]
    rng = np.random.default_rng([5, 7, 1, 1])  # seed, the validation stream, family 1, study 1
    direct = FAMILIES["cxr-pneumothorax"]["detector"].draw(rng, positive=True)
    assert drawn.datasets[0].PixelData == direct.datasets[0].PixelData
    assert drawn.finding == direct.finding
