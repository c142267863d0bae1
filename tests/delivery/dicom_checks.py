"""What a hospital's PACS vendor would run on our objects: dicom3tools and dcmtk."""

from __future__ import annotations

import subprocess
from pathlib import Path


def dciodvfy_errors(path: Path) -> list[str]:
    """dciodvfy's Error lines (warnings are allowed, and none are expected here)."""
    result = subprocess.run(
        ["dciodvfy", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    output = result.stdout + result.stderr
    return [line for line in output.splitlines() if line.startswith("Error")]


def dciodvfy_warnings(path: Path) -> list[str]:
    result = subprocess.run(
        ["dciodvfy", str(path)], capture_output=True, text=True, check=False, timeout=60
    )
    output = result.stdout + result.stderr
    return [line for line in output.splitlines() if line.startswith("Warning")]


def dsrdump(path: Path) -> str:
    result = subprocess.run(["dsrdump", str(path)], capture_output=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    # dsrdump shortens long values at a byte count, which may split a UTF-8 character.
    return result.stdout.decode("utf-8", errors="replace")
