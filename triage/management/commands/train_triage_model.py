"""Train one of the demonstration triage models and write its package.

manage.py train_triage_model head-ct-ich
manage.py train_triage_model cxr-pneumothorax --seed 0 --overwrite
manage.py train_triage_model head-ct-ich --train 64 --steps 20 --calibration 16 --held-out 16 \
    --family 8 --out /tmp/models

Progress goes to stderr (in place on a terminal, plain lines otherwise); the validation summary
(held-out split and shifted families) goes to stdout. See ``triage.core.train`` for the recipes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.core.novelty_fit import TRAINING, fit_package, novelty_table
from triage.core.package import PackageError, load_package
from triage.core.train import (
    OPTION_FOR_FIELD,
    RECIPES,
    ProgressEvent,
    goal_text,
    train_model,
)

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
        self.next_share = 0.1

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

    def _progress(self, text: str, done: bool, share: float = 0.0) -> None:
        if done:
            self._line(text)
        elif self.tty and time.monotonic() - self.last_draw >= 0.1:
            self._draw(text)
            self.last_draw = time.monotonic()
        elif not self.tty and share >= self.next_share:
            # A log (CI, a pipe) gets a line per tenth, so a long phase is not silence.
            self._line(text)
            self.next_share = (int(share * 10) + 1) / 10

    def __call__(self, event: ProgressEvent) -> None:
        clock = _clock(event.elapsed)
        if event.stage in ("data", "novelty"):
            # Drawing a split, or a part of fitting the novelty record: a bar per part.
            split = event.split.replace("_", "-")
            bar = progress_bar(event.current, event.total)
            verb = "drawing" if event.stage == "data" else "novelty"
            text = f"{verb} {split:<11} {bar} {event.current}/{event.total}  {clock}"
            if event.current == 1:
                self.next_share = 0.1
            share = event.current / max(event.total, 1)
            self._progress(text, event.current >= event.total, share)
        elif event.stage == "batch":
            bar = progress_bar(event.current, event.total)
            text = (
                f"training    {bar} step {event.current}/{event.total} "
                f"loss {event.loss:.4f}  {clock}"
            )
            self._progress(text, False)
        elif event.stage == "epoch":
            share = 100 * event.epoch // max(event.epochs, 1)
            self._line(f"training {share:>3}% done, loss {event.loss:.4f}  {clock}")
        else:
            self._line(f"{event.message}  {clock}" if event.message else f"{event.stage}  {clock}")


def novelty_progress(printer: ProgressPrinter | None):
    """``fit_package``'s progress (part, current, total) drawn by ``printer`` as a bar."""
    started = time.monotonic()

    def progress(label: str, current: int, total: int) -> None:
        if printer is not None:
            printer(ProgressEvent(stage="novelty", split=label, current=current, total=total,
                                  elapsed=time.monotonic() - started))  # fmt: skip

    return progress


def progress_bar(current: int, total: int, width: int = 24) -> str:
    """[######------] with the share done."""
    filled = round(width * current / total) if total else width
    return "[" + "#" * filled + "-" * (width - filled) + f"] {100 * current // max(total, 1):>3}%"


def _ci(values: list[float]) -> str:
    return f"[{values[0]:.3f}, {values[1]:.3f}]"


def _pct(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _rows(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    rows = [("held-out", summary["held_out"])]
    rows += [(f["family"], f) for f in summary["shifted"]]
    return rows


def summary_table(summary: dict[str, Any]) -> list[str]:
    header = (
        f"{'set':<14} {'n':>4}  {'AUC':>5}  {'95% CI':<16} {'sens':>5} {'spec':>5}   "
        f"{'checked: sens':>13} {'spec':>5} {'held back':>9}"
    )
    lines = [header, "-" * len(header)]
    for label, r in _rows(summary):
        checked = r.get("with_input_checks")
        tail = (
            f"{_pct(checked['sensitivity']):>13} {_pct(checked['specificity']):>5} "
            f"{checked['studies_held_back']:>9}"
            if checked
            else ""
        )
        lines.append(
            f"{label:<14} {r['n']:>4}  {r['auc']:.3f}  {_ci(r['auc_ci95']):<16} "
            f"{_pct(r['sensitivity']):>5} {_pct(r['specificity']):>5}   {tail}"
        )
    return lines


def auc_chart(summary: dict[str, Any]) -> list[str]:
    """Bars from 0 to 1; '|' marks chance (0.5), brackets the 95% CI."""
    lines = [f"AUC (0 to 1; '|' marks chance 0.5, '[ ]' the 95% CI; {BAR_WIDTH} columns)"]
    for label, r in _rows(summary):
        cells = [" "] * (BAR_WIDTH + 1)
        filled = round(r["auc"] * BAR_WIDTH)
        for i in range(filled):
            cells[i] = "#"
        cells[BAR_WIDTH // 2] = "|"
        lo, hi = (round(v * BAR_WIDTH) for v in r["auc_ci95"])
        cells[lo] = "["
        cells[hi] = "]" if hi != lo else "I"
        lines.append(f"{label:<14} {''.join(cells)} {r['auc']:.3f}")
    return lines


class Command(BaseCommand):
    help = (
        "Train a demonstration triage model on synthetic phantoms, validate it (held-out split "
        "and shifted families drawn by other code) and write its package. Known models: "
        + ", ".join(RECIPES)
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
        parser.add_argument("--train", type=int, default=None, help="training examples")
        parser.add_argument("--steps", type=int, default=None, help="optimiser steps")
        parser.add_argument("--lr", type=float, default=None, help="peak learning rate")
        parser.add_argument(
            "--members",
            type=int,
            default=None,
            help="networks trained from seeds of their own and averaged (default: the recipe's)",
        )
        parser.add_argument(
            "--model-version",
            default=None,
            help="version of the model written (default: the recipe's)",
        )
        parser.add_argument(
            "--init",
            type=Path,
            default=None,
            help="a package of the same model whose weights are fine-tuned instead of new ones",
        )
        parser.add_argument(
            "--first-member",
            type=Path,
            default=None,
            help="a package holding the single network this model and seed train: taken as the "
            "ensemble's first member instead of training it again",
        )
        parser.add_argument(
            "--calibration", type=int, default=None, help="calibration split examples"
        )
        parser.add_argument("--held-out", type=int, default=None, help="held-out split examples")
        parser.add_argument(
            "--family", type=int, default=None, help="examples per shifted family (0: none)"
        )
        parser.add_argument(
            "--bootstrap", type=int, default=1000, help="bootstrap resamples for the AUC CI"
        )
        parser.add_argument("--workers", type=int, default=2, help="processes drawing the phantoms")
        parser.add_argument(
            "--overwrite", action="store_true", help="replace an existing package of this name"
        )
        parser.add_argument(
            "--novelty",
            type=int,
            default=300,
            help="studies of the recipe's generator the novelty record is fitted on (two "
            "thirds as many more set its limit; 0: no record)",
        )
        parser.add_argument(
            "--cache",
            type=Path,
            default=None,
            help="folder keeping drawn splits, reused while the drawing code is unchanged",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        if name not in RECIPES:
            raise CommandError(f"unknown model {name!r}; known models: {', '.join(RECIPES)}")
        out = options["out"] or Path(settings.BASE_DIR) / "triage" / "packages"
        overrides = {
            field: options[option.removeprefix("--").replace("-", "_")]
            for field, option in OPTION_FOR_FIELD.items()
        }
        recipe = RECIPES[name]
        self.stderr.write(
            f"training {name} {options['model_version'] or recipe.version} "
            f"(seed {options['seed']}) -> {out / name}",
            style_func=_plain,
        )
        printer = ProgressPrinter(self.stderr) if options["verbosity"] >= 1 else None
        try:
            summary = train_model(
                name,
                seed=options["seed"],
                out_dir=out,
                overrides=overrides,
                bootstrap=options["bootstrap"],
                workers=options["workers"],
                overwrite=options["overwrite"],
                progress=printer,
                cache=options["cache"],
                init=options["init"],
                first_member=options["first_member"],
            )
        except FileExistsError as exc:
            raise CommandError(f"{exc}; use --overwrite to replace it") from exc
        except (KeyError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        except PackageError as exc:
            option = "--first-member" if options["first_member"] is not None else "--init"
            raise CommandError(f"{option}: {exc}") from exc

        novelty_lines = []
        if options["novelty"] > 0:
            # After the card is written: fitted on the recipe's own phantoms, and every source
            # the card reports is measured again with the record in place.
            fitted = fit_package(
                Path(summary["directory"]),
                source=TRAINING,
                n_fitting=options["novelty"],
                n_calibration=max(1, options["novelty"] * 2 // 3),
                n_family=recipe.n_family if options["family"] is None else options["family"],
                seed=options["seed"],
                progress=novelty_progress(printer),
            )
            novelty_lines = [
                "",
                f"  novelty record: limit {fitted['limit']:.2f} ({fitted['rule']})",
                *(f"  {line}" for line in novelty_table(fitted)),
            ]
        try:
            loaded = load_package(summary["directory"])
        except PackageError as exc:
            raise CommandError(f"the package was written but does not load: {exc}") from exc

        lines = [
            "",
            f"{loaded.name} {loaded.version}: {summary['directory']}",
            f"  weights {summary['weights_bytes'] / 1e6:.2f} MB, sha256 "
            f"{summary['weights_sha256']}",
            f"  {summary['n_train']} training examples, {summary['steps']} steps, "
            f"{_clock(summary['duration_s'])} (data {_clock(summary['data_generation_s'])}, "
            f"training {_clock(summary['training_s'])})",
            f"  temperature {summary['temperature']:.3f}; threshold {summary['threshold']:.6f} "
            f"(chosen on the calibration split, n={summary['n_calibration']}: "
            f"sens {summary['calibration_split']['sensitivity']:.3f}, "
            f"spec {summary['calibration_split']['specificity']:.3f})",
            "",
            *summary_table(summary),
            "",
            *auc_chart(summary),
            "",
            f"  {goal_text(loaded.card.validation['goal'])}",
            *novelty_lines,
            f"  {loaded.card.label}",
        ]
        self.stdout.write("\n".join(lines))
