"""Processes started by manage.py (the worker, the follower, the commands) run numpy's matrix
products on one BLAS thread: they share the cores with Orthanc, PostgreSQL and each other, and
BLAS threads waiting for busy cores made a head CT's preparation half as fast again during a
burst (README, "AI triage"). An operator's own OPENBLAS_NUM_THREADS still wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Asks the OpenBLAS that numpy loaded how many threads it runs (numpy's wheels bundle it under
# a prefixed name; the plain names are a system OpenBLAS's).
PROBE = """
import ctypes
import numpy
path = next(line.split()[-1] for line in open("/proc/self/maps") if "openblas" in line)
lib = ctypes.CDLL(path)
names = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
         "openblas_get_num_threads")
print(next(getattr(lib, name) for name in names if hasattr(lib, name))())
"""


def _blas_threads(env: dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return int(done.stdout.strip().splitlines()[-1])


def test_a_manage_py_process_runs_blas_on_one_thread_unless_told_otherwise():
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    assert _blas_threads(env) == 1
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: OpenBLAS would run one thread whatever it is told")
    assert _blas_threads({**env, "OPENBLAS_NUM_THREADS": "2"}) == 2
