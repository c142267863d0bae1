"""Fit a package's novelty record (``triage.core.novelty``) and measure what it withholds.

The record is fitted on studies drawn like the model's own validation data, through the
hospital's path (series selection, preprocessing) as the worker sees them, and its limit is set
on a second in-distribution set with seeds of its own. Then every source the card is measured
on (``triage.core.shifted``) is run through the real pipeline (``run_model``) with the record in
place, on the same seeds as the card's shifted-family figures, and the card records, per
source, how many studies and how many true findings the check withheld and what the flags then
are. The families play no part in fitting or in the limit.

Imports no Django.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from triage.core import novelty
from triage.core.metrics import sensitivity_specificity
from triage.core.package import CARD_FILENAME, LoadedModel, load_package
from triage.core.pipeline import prepare_input, rule_for, run_model
from triage.core.preprocess import NotApplicable, PreprocessError, require_series
from triage.core.shifted import shifted_sources
from triage.core.train import RECIPES, make_example, windowed

# Marks the novelty record's streams: default_rng([seed, NOVELTY_STREAM, part, i]), apart from
# training ([seed, split, i]) and validation ([seed, 7, family, i]) streams.
NOVELTY_STREAM = 11
FITTING, CALIBRATION = 0, 1
# The source that is the recipe's own generator (for a version this code trained).
TRAINING = "training"
# The card's shifted-family figures use default_rng([seed, 7, position, i]) (train.score_family).
VALIDATION_STREAM = 7

Progress = Callable[[str, int, int], None]


def _pooled(model: LoadedModel, batch: torch.Tensor) -> np.ndarray:
    """The network's pooled features for a batch of one, as the record is fitted on them."""
    with torch.inference_mode():
        _logits, features = model.module.logits_and_features(batch.to(torch.float32))
    return features[0].double().numpy()


def _features_of(model: LoadedModel, source: str) -> tuple[str, Callable]:
    """(what the source is, ``features(rng, positive)``: one study's features, or None when
    the model would not read it).

    ``training`` draws the recipe's own phantoms prepared as the training code prepares them
    (``make_example``: the worker's framing and presentation, then ``windowed``); any other
    source draws DICOM series (``triage.core.shifted``) and prepares them as the worker does.
    """
    if source == TRAINING:
        recipe = RECIPES.get(model.card.name)
        if recipe is None or recipe.version != model.card.version:
            raise ValueError(
                f"{model.card.name} {model.card.version} was not trained by this code's recipe "
                f"(which makes version {getattr(recipe, 'version', '-')}): fit it on another "
                "source"
            )

        def from_recipe(rng, positive: bool) -> np.ndarray:
            example = make_example(recipe, rng, positive=positive)
            return _pooled(model, windowed(recipe, example.x)[None])

        described = f"phantoms of the recipe that trained {model.card.version} (make_example)"
        return described, from_recipe
    sources = shifted_sources(model.card.name)
    if source not in sources:
        raise ValueError(
            f"unknown source {source!r}; this model's sources: {TRAINING}, {', '.join(sources)}"
        )
    description, draw = sources[source]

    def from_series(rng, positive: bool) -> np.ndarray | None:
        try:
            selected = require_series(list(draw(rng, positive)), rule_for(model))
            prepared, _checks = prepare_input(model.card.input, selected.datasets)
        except (NotApplicable, PreprocessError):
            return None
        return _pooled(model, torch.from_numpy(prepared.array)[None])

    return description, from_series


def _draw_features(features, n: int, seed: int, part: int, progress: Progress) -> np.ndarray:
    label = ("fitting", "calibration")[part]
    rows = []
    for i in range(n):
        row = features(np.random.default_rng([seed, NOVELTY_STREAM, part, i]), i % 2 == 1)
        if row is not None:
            rows.append(row)
        progress(label, i + 1, n)
    return np.array(rows)


def measure_source(
    model: LoadedModel, draw, n: int, seed: int, position: int, progress: Progress, label: str
) -> dict[str, Any]:
    """Run ``n`` studies of one source through ``run_model``: what the checks withheld, and the
    flags (sensitivity/specificity) on every study, a withheld one counting as not flagged."""
    labels, flagged, flagged_before, unfamiliar, distances = [], [], [], [], []
    finding = model.card.findings[0].code
    for i in range(n):
        positive = i % 2 == 0  # as train.score_family draws them
        rng = np.random.default_rng([seed, VALIDATION_STREAM, position, i])
        outcome = run_model(model, draw(rng, positive))
        labels.append(positive)
        flagged.append(bool(outcome.flags.get(finding)))
        codes = {c["code"] for c in outcome.detail.get("input_checks", [])}
        unfamiliar.append("unfamiliar" in codes)
        # What the run would have flagged with every other check but this one.
        speaks = outcome.status == "succeeded" or codes == {"unfamiliar"}
        scored = next((f.flagged for f in outcome.findings if f.code == finding), False)
        flagged_before.append(speaks and scored)
        if "novelty" in outcome.detail:
            distances.append(outcome.detail["novelty"]["distance"])
        progress(label, i + 1, n)
    y, withheld = np.array(labels, dtype=bool), np.array(unfamiliar, dtype=bool)
    rates = sensitivity_specificity(y, np.array(flagged, dtype=float), 0.5)
    before = sensitivity_specificity(y, np.array(flagged_before, dtype=float), 0.5)
    return {
        "n": n,
        "withheld": int(withheld.sum()),
        "withheld_positives": int((y & withheld).sum()),
        "withheld_negatives": int((~y & withheld).sum()),
        "distance_median": round(float(np.median(distances)), 2) if distances else None,
        "sensitivity": _rounded(rates["sensitivity"]),
        "specificity": _rounded(rates["specificity"]),
        "sensitivity_ci95": rates["sensitivity_ci95"],
        "specificity_ci95": rates["specificity_ci95"],
        "without_novelty": {
            "sensitivity": _rounded(before["sensitivity"]),
            "specificity": _rounded(before["specificity"]),
        },
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def fit_package(
    directory: Path,
    *,
    source: str = "simulator",
    n_fitting: int = 300,
    n_calibration: int = 200,
    n_family: int = 200,
    seed: int = 0,
    progress: Progress = lambda label, current, total: None,
) -> dict[str, Any]:
    """Fit ``directory``'s novelty record, write it, pin it in the card, measure every source.

    Returns the card's new ``novelty`` section.
    """
    directory = Path(directory)
    # Fitted without any record in place, whatever the card named before.
    bare = load_package(directory, smoke_test=False, novelty=False)
    if not callable(getattr(bare.module, "logits_and_features", None)):
        raise ValueError(f"{type(bare.module).__name__} has no logits_and_features()")
    description, features = _features_of(bare, source)
    fitting = _draw_features(features, n_fitting, seed, FITTING, progress)
    calibration = _draw_features(features, n_calibration, seed, CALIBRATION, progress)
    record, measured = novelty.fit(fitting, calibration)
    path = novelty.write(record, directory)
    section = {
        "file": path.name,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "fitted_on": (
            f"{source}: {description}; fitting default_rng([{seed}, {NOVELTY_STREAM}, "
            f"{FITTING}, i]), calibration default_rng([{seed}, {NOVELTY_STREAM}, {CALIBRATION}, "
            "i]), half positive, unlabelled use"
        ),
        **measured,
        "features_from": "the network's pooled features before its output (logits_and_features)",
        "sources": {},
    }
    _write_card_section(directory, section)
    checked = load_package(directory)
    for position, (name, (_description, source_draw)) in enumerate(
        shifted_sources(bare.card.name).items()
    ):
        if n_family < 1:
            break
        section["sources"][name] = measure_source(
            checked, source_draw, n_family, seed, position, progress, name
        )
    section["sources_drawn"] = (
        f"{n_family} studies per source, default_rng([{seed}, {VALIDATION_STREAM}, position, i]) "
        "as the card's shifted-family figures; flags counted on every study, a withheld one as "
        "not flagged"
    )
    _write_card_section(directory, section)
    load_package(directory)  # the written package loads, record and all
    return section


def _write_card_section(directory: Path, section: dict[str, Any]) -> None:
    card_path = directory / CARD_FILENAME
    data = json.loads(card_path.read_text(encoding="utf-8"))
    data["novelty"] = section
    card_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _rate(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def novelty_table(section: dict[str, Any]) -> list[str]:
    """Per source: studies, withheld (positives among them), median distance, the flags with
    the record and without it."""
    header = (
        f"{'source':<12} {'n':>4} {'withheld':>8} {'of them +':>9} {'distance':>8}   "
        f"{'sens':>5} {'spec':>5}   {'before: sens':>12} {'spec':>5}"
    )
    lines = [header, "-" * len(header)]
    for name, r in section["sources"].items():
        distance = "-" if r["distance_median"] is None else f"{r['distance_median']:.1f}"
        lines.append(
            f"{name:<12} {r['n']:>4} {r['withheld']:>8} {r['withheld_positives']:>9} "
            f"{distance:>8}   {_rate(r['sensitivity']):>5} {_rate(r['specificity']):>5}   "
            f"{_rate(r['without_novelty']['sensitivity']):>12} "
            f"{_rate(r['without_novelty']['specificity']):>5}"
        )
    return lines
