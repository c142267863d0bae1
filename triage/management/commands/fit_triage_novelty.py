"""Fit a model package's novelty record and measure, per validation source, what it withholds.

manage.py fit_triage_novelty cxr-pneumothorax
manage.py fit_triage_novelty cxr-pneumothorax --fitting 40 --calibration 20 --family 10 \
    --package /tmp/models/cxr-pneumothorax

Progress goes to stderr; the table of what the record withholds goes to stdout. See
``triage.core.novelty`` for what the record is and ``triage.core.novelty_fit`` for how it is
fitted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from triage.core.novelty_fit import fit_package, novelty_table
from triage.core.package import PackageError
from triage.management.commands.train_triage_model import ProgressPrinter, novelty_progress


class Command(BaseCommand):
    help = (
        "Fit a triage package's novelty record (is a study like the model's validation data?) "
        "on in-distribution studies, pin it in the card, and measure on every validation "
        "source how many studies and true findings it withholds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the package's folder name in TRIAGE_MODEL_DIRS")
        parser.add_argument("--package", type=Path, default=None,
                            help="the package folder (default: the first <dir>/<name> of "
                                 "TRIAGE_MODEL_DIRS)")  # fmt: skip
        parser.add_argument("--source", default="simulator",
                            help="the in-distribution source to fit on")  # fmt: skip
        parser.add_argument("--fitting", type=int, default=300, help="studies to fit on")
        parser.add_argument("--calibration", type=int, default=200,
                            help="studies that set the limit")  # fmt: skip
        parser.add_argument("--family", type=int, default=200, help="studies per source measured")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        candidates = [Path(d) / options["name"] for d in settings.TRIAGE_MODEL_DIRS]
        directory = options["package"] or next(
            (c for c in candidates if (c / "model.json").is_file()), candidates[0]
        )
        if not (directory / "model.json").is_file():
            raise CommandError(f"no model package at {directory}: name one with --package")
        try:
            section = fit_package(
                directory,
                source=options["source"],
                n_fitting=options["fitting"],
                n_calibration=options["calibration"],
                n_family=options["family"],
                seed=options["seed"],
                progress=novelty_progress(ProgressPrinter(self.stderr)),
            )
        except (PackageError, ValueError) as exc:
            raise CommandError(f"{exc}; nothing was changed in the card") from exc
        self.stdout.write(
            f"novelty record {section['file']} (sha256 {section['sha256'][:12]}...): limit "
            f"{section['limit']:.2f} ({section['rule']})"
        )
        for line in novelty_table(section):
            self.stdout.write(line)
