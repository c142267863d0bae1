"""One model on one study's series: select, preprocess, infer. Imports no Django.

Every way this can go wrong ends in a RunOutcome, never an exception: a study the model does
not apply to is ``not_applicable``, one that cannot be decoded is ``failed`` with the reason.
Neither changes priority and neither blocks reading.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from pydicom.dataset import Dataset

from triage.core.outcome import FindingResult, RunOutcome
from triage.core.package import LoadedModel
from triage.core.preprocess import (
    CHEST_RADIOGRAPH,
    CT_HEAD,
    WINDOWS,
    NotApplicable,
    PreprocessError,
    SeriesRule,
    prepare_ct_volume,
    prepare_radiograph,
    require_series,
)

# The selection rule for each kind of input; modality and body part come from the model card.
BASE_RULES = {"ct-volume": CT_HEAD, "radiograph": CHEST_RADIOGRAPH}


def rule_for(model: LoadedModel) -> SeriesRule:
    card = model.card
    base = BASE_RULES[card.input.kind]
    return SeriesRule(
        name=card.name,
        modalities=frozenset(m.upper() for m in card.applicability.modalities),
        body_parts=frozenset(b.upper() for b in card.applicability.body_parts) | base.body_parts,
        orientation=base.orientation,
        slice_thickness_mm=base.slice_thickness_mm,
        min_instances=base.min_instances,
        require_original_primary=base.require_original_primary,
    )


def _window_names(model: LoadedModel) -> list[str]:
    names = []
    for window in model.card.input.windows:
        if WINDOWS.get(window.name) != (window.center, window.width):
            raise PreprocessError(
                f"model window {window.name!r} ({window.center}/{window.width}) is not one the "
                f"preprocessing knows ({WINDOWS}): the package does not fit this reading center"
            )
        names.append(window.name)
    return names


def run_model(model: LoadedModel, series: Sequence[list[Dataset]]) -> RunOutcome:
    card = model.card
    started = time.perf_counter()
    outcome = RunOutcome(
        model_name=card.name,
        model_version=card.version,
        weights_sha256=model.weights_sha256,
        status="failed",
    )
    try:
        selected = require_series(list(series), rule_for(model))
        outcome.series_instance_uid = selected.series_instance_uid
        if card.input.kind == "ct-volume":
            prepared = prepare_ct_volume(
                selected.datasets, size=card.input.size, windows=_window_names(model)
            )
        else:
            prepared = prepare_radiograph(selected.datasets[0], size=card.input.size)
        outcome.sop_instance_uids = list(prepared.sop_instance_uids)
        outcome.detail = {"selection": selected.reason, "notes": list(prepared.notes)[:20],
                          "rejected": [list(r) for r in selected.rejected][:20]}  # fmt: skip
        probabilities = model.predict(torch.from_numpy(prepared.array)[None])
    except NotApplicable as exc:
        outcome.status, outcome.reason = "not_applicable", exc.reason
        outcome.detail = {"rejected": [list(r) for r in exc.rejected][:20]}
    except PreprocessError as exc:
        outcome.status, outcome.reason = "failed", exc.reason
    except (RuntimeError, ValueError) as exc:
        # The network refused the tensor (a shape the package did not expect): a failed run
        # with the reason, never an exception that would stop the study from being read.
        outcome.status, outcome.reason = "failed", f"inference failed: {exc}"[:500]
    else:
        outcome.status = "succeeded"
        outcome.findings = [
            FindingResult(f.code, f.display, float(probabilities[f.code][0]), f.threshold)
            for f in card.findings
        ]
    outcome.runtime_ms = round((time.perf_counter() - started) * 1000, 1)
    return outcome
