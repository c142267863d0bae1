"""Only the processes that run models load torch: the web server, the ingest follower and the
other workers' start-up import nothing of it (it is about 200 MB of memory and a second of
start-up in every process, web nodes and followers included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readingcenter.settings")
import readingcenter.asgi  # the web process: Django, Channels, every app's admin and urls
from django.urls import get_resolver
get_resolver().url_patterns
import readingcenter.studies.ingest  # the follower
import triage.jobs, triage.alarms  # the triage jobs are registered in every worker
print("torch" in sys.modules)
"""


def test_starting_the_web_and_ingest_processes_does_not_import_torch():
    # A process of its own: this test process has long imported torch for the other tests.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"
