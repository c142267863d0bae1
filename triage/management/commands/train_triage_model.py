"""Train one of the demonstration triage models and write its package.

manage.py train_triage_model head-ct-ich
manage.py train_triage_model cxr-pneumothorax --seed 0 --overwrite
manage.py train_triage_model head-ct-ich --train 64 --val 32 --epochs 2 --out /tmp/models

Progress goes to stderr (in place on a terminal, plain lines otherwise); the validation summary
(held-out and shifted sets) goes to stdout. See ``triage.core.train`` for the recipes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.core.package import PackageError, load_package
from triage.core.train import RECIPES, ProgressEvent, train_model

BAR_WIDTH = 40


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _plain(text: str) -> str:
    return text


class ProgressPrinter:
    """Renders ``ProgressEvent``s: one rewritten line on a terminal, sparse lines in a log."""

    def __init__(self, out) -> None:
        self.out = out
        self.tty = out.isatty()
        self.width = 0
        self.last_draw = 0.0

    def _draw(self, text: str) -> None:
        pad = max(self.width - len(text), 0)
        self.out.write("\r" + text + " " * pad, ending="", style_func=_plain)
        self.out.flush()
        self.width = len(text)

    def _line(self, text: str) -> None:
        if self.tty and self.width:
            self._draw(text)
            self.out.write("", style_func=_plain)
            self.width = 0
        else:
            self.out.write(text, style_func=_plain)

    def __call__(self, event: ProgressEvent) -> None:
        clock = _clock(event.elapsed)
        if event.stage == "data":
            split = event.split.replace("_", "-")
            text = f"generating {split} data {event.current}/{event.total}  {clock}"
            if event.current >= event.total:
                self._line(text)
            elif self.tty and time.monotonic() - self.last_draw >= 0.1:
                self._draw(text)
                self.last_draw = time.monotonic()
        elif event.stage == "batch":
            if self.tty and time.monotonic() - self.last_draw >= 0.1:
                self._draw(
                    f"epoch {event.epoch}/{event.epochs} batch {event.current}/{event.total} "
                    f"loss {event.loss:.4f}  {clock}"
                )
                self.last_draw = time.monotonic()
        elif event.stage == "epoch":
            self._line(f"epoch {event.epoch}/{event.epochs} loss {event.loss:.4f}  {clock}")
        else:
            self._line(f"{event.message}  {clock}" if event.message else f"{event.stage}  {clock}")


def _ci(values: list[float]) -> str:
    return f"[{values[0]:.3f}, {values[1]:.3f}]"


def _pct(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def summary_table(summary: dict[str, Any]) -> list[str]:
    header = (
        f"{'set':<9} {'n':>4}  {'AUC':>5}  {'95% CI':<16} {'ECE raw':>7} {'ECE cal':>7} "
        f"{'sens':>5} {'spec':>5}"
    )
    lines = [header, "-" * len(header)]
    for label, key in (("held-out", "held_out"), ("shifted", "shifted")):
        r = summary[key]
        lines.append(
            f"{label:<9} {r['n']:>4}  {r['auc']:.3f}  {_ci(r['auc_ci95']):<16} "
            f"{r['ece_before_calibration']:>7.3f} {r['ece_after_calibration']:>7.3f} "
            f"{_pct(r['sensitivity']):>5} {_pct(r['specificity']):>5}"
        )
    return lines


def auc_chart(summary: dict[str, Any]) -> list[str]:
    """Bars from 0 to 1; '|' marks chance (0.5), brackets the 95% CI."""
    lines = [f"AUC (0 to 1; '|' marks chance 0.5, '[ ]' the 95% CI; {BAR_WIDTH} columns)"]
    for label, key in (("held-out", "held_out"), ("shifted", "shifted")):
        r = summary[key]
        cells = [" "] * (BAR_WIDTH + 1)
        filled = round(r["auc"] * BAR_WIDTH)
        for i in range(filled):
            cells[i] = "#"
        half = BAR_WIDTH // 2
        cells[half] = "|"
        lo, hi = (round(v * BAR_WIDTH) for v in r["auc_ci95"])
        cells[lo] = "["
        cells[hi] = "]" if hi != lo else "I"
        lines.append(f"{label:<9} {''.join(cells)} {r['auc']:.3f}")
    return lines


class Command(BaseCommand):
    help = (
        "Train a demonstration triage model on synthetic phantoms, validate it (held-out and "
        "shifted sets) and write its package. Known models: " + ", ".join(RECIPES)
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help=f"model recipe: {', '.join(RECIPES)}")
        parser.add_argument("--seed", type=int, default=0, help="seed for data and weights")
        parser.add_argument(
            "--out",
            type=Path,
            default=None,
            help="folder the package directory <name>/ is written in "
            "(default: triage/packages in the project)",
        )
        parser.add_argument("--epochs", type=int, default=None, help="training epochs")
        parser.add_argument("--train", type=int, default=None, help="training examples")
        parser.add_argument(
            "--val",
            type=int,
            default=None,
            help="validation examples, split evenly into calibration and held-out test",
        )
        parser.add_argument("--shifted", type=int, default=None, help="shifted test examples")
        parser.add_argument(
            "--bootstrap", type=int, default=1000, help="bootstrap resamples for the AUC CI"
        )
        parser.add_argument(
            "--overwrite", action="store_true", help="replace an existing package of this name"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        if name not in RECIPES:
            raise CommandError(f"unknown model {name!r}; known models: {', '.join(RECIPES)}")
        out = options["out"] or Path(settings.BASE_DIR) / "triage" / "packages"
        recipe = RECIPES[name]
        self.stderr.write(
            f"training {name} (seed {options['seed']}) -> {out / name}", style_func=_plain
        )
        if options["verbosity"] >= 1:
            self.stderr.write(
                f"{options['train'] or recipe.n_train} train, "
                f"{options['val'] or recipe.n_val} validation (calibration + held-out), "
                f"{options['shifted'] or recipe.n_shifted} shifted, "
                f"{options['epochs'] or recipe.epochs} epochs",
                style_func=_plain,
            )
        printer = ProgressPrinter(self.stderr) if options["verbosity"] >= 1 else None
        try:
            summary = train_model(
                name,
                seed=options["seed"],
                out_dir=out,
                n_train=options["train"],
                n_val=options["val"],
                n_shifted=options["shifted"],
                epochs=options["epochs"],
                bootstrap=options["bootstrap"],
                overwrite=options["overwrite"],
                progress=printer,
            )
        except FileExistsError as exc:
            raise CommandError(f"{exc}; use --overwrite to replace it") from exc
        except (KeyError, ValueError) as exc:
            raise CommandError(str(exc)) from exc

        try:
            loaded = load_package(summary["directory"])
        except PackageError as exc:
            raise CommandError(f"the package was written but does not load: {exc}") from exc

        lines = [
            "",
            f"{loaded.name} {loaded.version}: {summary['directory']}",
            f"  weights {summary['weights_bytes'] / 1e6:.2f} MB, sha256 "
            f"{summary['weights_sha256']}",
            f"  {summary['n_train']} training examples, {summary['epochs']} epochs, "
            f"{_clock(summary['duration_s'])} (data {_clock(summary['data_generation_s'])}, "
            f"training {_clock(summary['training_s'])})",
            f"  temperature {summary['temperature']:.3f}; threshold {summary['threshold']:.6f} "
            f"(sensitivity >= 0.95 on the calibration split, n={summary['n_calibration']}: "
            f"sens {summary['calibration_split']['sensitivity']:.3f}, "
            f"spec {summary['calibration_split']['specificity']:.3f})",
            "",
            *summary_table(summary),
            "",
            *auc_chart(summary),
            "",
            f"  {loaded.card.label}",
        ]
        self.stdout.write("\n".join(lines))
