"""Every family's series goes through the project's own input path: series selection with the
models' rules, then the preparation the models read (no shortcut that the pipeline lacks)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.triage.validation.draws import CHEST, HEAD, drawn, shown
from triage.core.preprocess import (
    CHEST_RADIOGRAPH,
    CT_HEAD,
    WINDOWS,
    prepare_ct_volume,
    prepare_radiograph,
    require_series,
)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("family", HEAD)
def test_a_head_ct_is_selected_by_the_head_rule_and_prepared_for_the_model(family, positive):
    study = drawn("head-ct-ich", family, 1, positive)
    selected = require_series([study.datasets], CT_HEAD)
    assert len(selected.datasets) == study.parameters["slices"]
    prepared = prepare_ct_volume(selected.datasets, size=64)
    assert prepared.array.shape == (study.parameters["slices"], len(WINDOWS), 64, 64)
    assert np.isfinite(prepared.array).all()
    assert prepared.array.min() >= 0 and prepared.array.max() <= 1
    assert prepared.spacing_mm[0] == pytest.approx(study.parameters["spacing_mm"], rel=1e-3)
    assert not [note for note in prepared.notes if "uneven" in note]
    # Brain-window content: soft tissue between 0 and 80 HU fills a good part of the head.
    brain = prepared.array[:, 0]
    assert ((brain > 0.05) & (brain < 0.95)).mean() > 0.05


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("family", CHEST)
def test_a_chest_radiograph_is_selected_by_the_chest_rule_and_prepared_for_the_model(
    family, positive
):
    study = drawn("cxr-pneumothorax", family, 1, positive)
    selected = require_series([study.datasets], CHEST_RADIOGRAPH)
    prepared = prepare_radiograph(selected.datasets[0], size=128)
    assert prepared.array.shape == (1, 128, 128)
    assert np.isfinite(prepared.array).all()
    assert prepared.array.min() >= 0 and prepared.array.max() <= 1
    assert prepared.spacing_mm[0] == pytest.approx(
        study.parameters["pixel_mm"]
        * max(study.parameters["rows"], study.parameters["columns"])
        / 128,
        rel=1e-3,
    )


@pytest.mark.parametrize("family", CHEST)
def test_a_radiograph_is_presented_bright_where_dense_whatever_its_photometric(family):
    study = drawn("cxr-pneumothorax", family, 1, True)
    image = shown(study.datasets[0])
    lung = study.masks["lung"]
    columns = image.shape[1]
    rows = np.flatnonzero(lung.any(axis=1))
    middle = image[rows[0] : rows[-1], columns // 2 - 10 : columns // 2 + 10]
    assert middle.mean() > image[lung].mean() + 0.15
