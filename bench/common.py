"""What the benchmarks share: a scratch database, the environment for our processes, charts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:  # the charts are also used where neither psycopg nor Django is installed
    from readingcenter.pacs.orthanc_server import OrthancConfig


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prepare_database(base_url: str, name: str) -> str:
    """A fresh, empty database next to the configured one; returns its URL."""
    import psycopg

    parts = urlsplit(base_url)
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return parts._replace(path=f"/{name}").geturl()


def process_environment(database_url: str, config: OrthancConfig, **extra: str) -> dict:
    """The environment that points our processes (follower, worker) at the bench's services."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "ORTHANC_URL": config.url,
        "ORTHANC_USERNAME": config.username,
        "ORTHANC_PASSWORD": config.password,
        "ORTHANC_STABLE_AGE": str(config.stable_age),
        "ORTHANC_DICOM_PORT": str(config.dicom_port),
        "TCP_NODELAY": "1",
        **extra,
    }


def stop_processes(processes, timeout: float = 15) -> None:
    """SIGTERM every child at once, then wait for each; one that does not stop is killed."""
    import subprocess

    processes = [p for p in processes if p is not None]
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def bar_chart(rows: list[tuple[str, float]], unit: str, width: int = 40) -> str:
    top = max(v for _, v in rows) or 1.0
    label_width = max(len(label) for label, _ in rows)
    return "\n".join(
        f"  {label:<{label_width}} {'█' * max(1, round(width * value / top))} {value:,.2f} {unit}"
        for label, value in rows
    )
