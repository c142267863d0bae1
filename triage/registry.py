"""The models this process has loaded: once per worker, again when a package folder changes.

A user drops a package into a configured folder; the next triage job notices (the folders'
model.json files are fingerprinted by path, size and mtime) and loads it, no restart needed.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from django.conf import settings

from triage.core.package import CARD_FILENAME, LoadedModel, PackageError, discover

log = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict = {"fingerprint": None, "models": [], "errors": []}


def model_dirs() -> list[Path]:
    return [Path(p) for p in settings.TRIAGE_MODEL_DIRS]


def _fingerprint(dirs: list[Path]) -> tuple:
    cards = []
    for folder in dirs:
        if folder.is_dir():
            for card in sorted(folder.glob(f"*/{CARD_FILENAME}")):
                stat = card.stat()
                weights = sorted(
                    (p.name, p.stat().st_size, p.stat().st_mtime_ns)
                    for p in card.parent.iterdir()
                    if p.is_file()
                )
                cards.append((str(card), stat.st_mtime_ns, tuple(weights)))
    return tuple(cards)


def loaded_models() -> tuple[list[LoadedModel], list[PackageError]]:
    dirs = model_dirs()
    fingerprint = _fingerprint(dirs)
    with _lock:
        if fingerprint != _state["fingerprint"]:
            models: list[LoadedModel] = []
            errors: list[PackageError] = []
            seen: set[tuple[str, str]] = set()
            for folder in dirs:
                if not folder.exists():
                    continue  # the drop folder is optional until someone drops a package
                found, broken = discover(folder)
                errors.extend(broken)
                for model in found:
                    key = (model.card.name, model.card.version)
                    if key in seen:
                        errors.append(
                            PackageError(
                                model.directory,
                                f"{key[0]} {key[1]} is already loaded from another folder",
                            )
                        )
                        continue
                    seen.add(key)
                    models.append(model)
            for error in errors:
                log.error("model package refused: %s", error)
            log.info(
                "triage models loaded: %s",
                ", ".join(f"{m.card.name} {m.card.version}" for m in models) or "none",
            )
            _state.update(fingerprint=fingerprint, models=models, errors=errors)
        return list(_state["models"]), list(_state["errors"])
