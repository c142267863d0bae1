"""One model on one study's series: select, preprocess, infer. Imports no Django.

Every way this can go wrong ends in a RunOutcome, never an exception: a study the model does
not apply to is ``not_applicable``, one that cannot be decoded is ``failed`` with the reason.
Neither changes priority and neither blocks reading.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from pydicom.dataset import Dataset

from triage.core.framing import cranial_share, frame_head
from triage.core.outcome import FindingResult, RunOutcome
from triage.core.package import InputSpec, LoadedModel
from triage.core.preprocess import (
    CHEST_RADIOGRAPH,
    CT_HEAD,
    WINDOWS,
    NotApplicable,
    PreparedInput,
    PreprocessError,
    SeriesRule,
    hounsfield_series,
    prepare_ct_volume,
    prepare_radiograph,
    require_series,
    window,
)
from triage.core.quality import (
    LOW_CONFIDENCE,
    NOT_APPLICABLE,
    UNSEEN_BODY_PART,
    InputCheck,
    head_ct_checks,
    lung_fields,
    radiograph_checks,
    unseen_chest,
    unseen_head,
    verdict,
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
        body_part_from_images=base.body_part_from_images,
    )


def _window_names(spec: InputSpec) -> list[str]:
    names = []
    for w in spec.windows:
        if WINDOWS.get(w.name) != (w.center, w.width):
            raise PreprocessError(
                f"model window {w.name!r} ({w.center}/{w.width}) is not one the "
                f"preprocessing knows ({WINDOWS}): the package does not fit this reading center"
            )
        names.append(w.name)
    return names


def _prepare_head(
    datasets: list[Dataset], spec: InputSpec, body_part_from_images: bool
) -> tuple[PreparedInput, list]:
    """A head CT framed around the head (``input.framing == "head"``) and its input checks."""
    hu, slices, notes, spacing = hounsfield_series(datasets)
    frame = frame_head(hu, size=spec.size, slices=spec.slices or len(slices))
    if body_part_from_images:
        # Measured only when the header left it to the images: a head labelled so is read as
        # one. Not a head is a plain "not applicable" (no input check, so no badge on the
        # worklist), as a header naming the abdomen would have made it.
        cranial = cranial_share(hu, frame.box) if frame.found else 0.0
        if why := unseen_head(cranial):
            raise NotApplicable(why)
        notes.append(f"read as a head: bone closes around brain on {cranial:.0%} of its slices")
    names = _window_names(spec)
    array = np.stack([window(frame.hu, *WINDOWS[n]) for n in names], axis=1)
    if frame.hu_shift:
        notes.append(f"HU shifted by {frame.hu_shift:+.1f} to bring the brain to the reference")
    prepared = PreparedInput(
        array=array.astype(np.float32, copy=False),
        # An enhanced instance's frames share its UID: each instance is named once.
        sop_instance_uids=list(dict.fromkeys(str(ds.get("SOPInstanceUID", "")) for ds in slices)),
        series_instance_uid=str(slices[0].get("SeriesInstanceUID", "")),
        notes=notes,
        spacing_mm=spacing,
    )
    checks = head_ct_checks(slices[0], frame, spacing, spec.extra.get("validated"))
    return prepared, checks


def prepare_input(
    spec: InputSpec, datasets: list[Dataset], *, body_part_from_images: bool = False
) -> tuple[PreparedInput, list[InputCheck]]:
    """The model's input from the selected series, and every input check that failed.

    ``body_part_from_images``: the series' header names no body part (``SelectedSeries``), so
    the images must show it (a head CT's skull, a chest film's lung fields); any other input
    is then not applicable (``NotApplicable``). Packages from before framing (no
    ``input.framing``) get the plain resize and no other checks.
    """
    if spec.kind == "ct-volume" and spec.extra.get("framing") == "head":
        return _prepare_head(datasets, spec, body_part_from_images)
    if spec.kind == "ct-volume":
        if body_part_from_images:
            raise NotApplicable(UNSEEN_BODY_PART)
        return prepare_ct_volume(datasets, size=spec.size, windows=_window_names(spec)), []
    prepared = prepare_radiograph(datasets[0], size=spec.size)
    if body_part_from_images:
        # As for a head: not a chest is plainly not for this model, so no input check.
        fields = lung_fields(prepared.array)
        if why := unseen_chest(fields):
            raise NotApplicable(why)
        prepared.notes.append(
            f"read as a chest: lung fields cover {sum(fields[:2]):.0%} of the film"
        )
    if spec.extra.get("checks") == "radiograph":
        return prepared, radiograph_checks(datasets[0], prepared.array, spec.extra.get("validated"))
    return prepared, []


def _record_checks(outcome: RunOutcome, checks: list[InputCheck]) -> tuple[str, str]:
    """Every failed check, and the one that decides the run's status under the key the case
    page reads ("AI not applied: ..."); returns the (status, reason) they give the run."""
    if not checks:
        return "succeeded", ""
    outcome.detail["input_checks"] = [c.as_dict() for c in checks]
    status, reason = verdict(checks)
    outcome.detail["input_check"] = next(c for c in checks if c.severity == status).as_dict()
    return status, reason


def _novelty_checks(outcome: RunOutcome, distance: float, limit: float) -> list[InputCheck]:
    """The novelty distance, kept with the run; a failed check past the package's limit."""
    outcome.detail["novelty"] = {"distance": round(distance, 2), "limit": round(limit, 2)}
    if distance <= limit:
        return []
    return [
        InputCheck(
            "unfamiliar",
            LOW_CONFIDENCE,
            f"unlike the studies this model was validated on (novelty distance {distance:.1f}, "
            f"limit {limit:.1f}): its score is kept for the record and flags nothing",
        )
    ]


def run_model(model: LoadedModel, series: Sequence[list[Dataset]]) -> RunOutcome:
    import torch  # here, not at the top: the web and ingest processes never load it

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
        # What choosing the series noted (a bone reconstruction or derived images read, frames
        # unpacked, localizers dropped), then what preparing it did.
        outcome.detail = {"selection": selected.reason, "notes": list(selected.notes)[:20],
                          "rejected": [list(r) for r in selected.rejected][:20]}  # fmt: skip
        prepared, checks = prepare_input(
            card.input, selected.datasets, body_part_from_images=selected.body_part_from_images
        )
        outcome.sop_instance_uids = list(prepared.sop_instance_uids)
        outcome.detail["notes"] = [*selected.notes, *prepared.notes][:20]
        decided = _record_checks(outcome, checks)
        if decided[0] == NOT_APPLICABLE:
            raise NotApplicable(decided[1], selected.rejected)
        probabilities, distances = model.predict_with_novelty(
            torch.from_numpy(prepared.array)[None]
        )
        if distances is not None:
            unfamiliar = _novelty_checks(outcome, float(distances[0]), model.novelty.limit)
            if unfamiliar:
                decided = _record_checks(outcome, [*checks, *unfamiliar])
    except NotApplicable as exc:
        outcome.status, outcome.reason = "not_applicable", exc.reason
        # From selection, every series' reason; from the images (no head), the selection's.
        rejected = [list(r) for r in exc.rejected] or outcome.detail.get("rejected", [])
        outcome.detail = {**outcome.detail, "rejected": rejected[:20]}
    except PreprocessError as exc:
        outcome.status, outcome.reason = "failed", exc.reason
    except (RuntimeError, ValueError) as exc:
        # The network refused the tensor (a shape the package did not expect): a failed run
        # with the reason, never an exception that would stop the study from being read.
        outcome.status, outcome.reason = "failed", f"inference failed: {exc}"[:500]
    else:
        # Checks that failed without making the model inapplicable: the scores are kept for the
        # record, and the run flags nothing (RunOutcome.flags).
        outcome.status, outcome.reason = decided
        outcome.findings = [
            FindingResult(f.code, f.display, float(probabilities[f.code][0]), f.threshold)
            for f in card.findings
        ]
    outcome.runtime_ms = round((time.perf_counter() - started) * 1000, 1)
    return outcome
