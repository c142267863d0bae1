"""The project under daphne, as in production, on the test database: for browser tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import connection

from readingcenter.pacs.orthanc_server import free_port


@contextlib.contextmanager
def daphne_server(tmp_path: Path, *, timeout: float = 60, **extra_env: str) -> Iterator[str]:
    """Start daphne on a free port against the test database; yields its base URL."""
    port = free_port()
    database_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    env = {
        **os.environ,
        "DATABASE_URL": urlsplit(database_url)
        ._replace(path=f"/{connection.settings_dict['NAME']}")
        .geturl(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "OHIF_DIR": str(settings.OHIF_DIR),
        **extra_env,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the server keeps Django's guard
    log_path = tmp_path / f"daphne-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
         "readingcenter.asgi:application"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"daphne did not start: {log_path.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()
