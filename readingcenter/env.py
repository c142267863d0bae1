"""Reading settings from the environment.

Every secret may also come from a file named by ``<NAME>_FILE`` (Docker and Kubernetes
secrets, systemd credentials), so that passwords never need to sit in a process's environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit


class ConfigurationError(RuntimeError):
    """A setting is present but unusable; the message says which and how to fix it."""


def env(name: str, default: str | None = None) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(f"{name}_FILE={file_name} cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean: use true or false")


def env_int(name: str, default: int) -> int:
    value = env(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={value!r} is not an integer") from exc


def env_float(name: str, default: float) -> float:
    value = env(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={value!r} is not a number") from exc


def database_from_url(url: str) -> dict:
    """Turn ``postgresql://user:pass@host:port/name?opt=v`` into Django's DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ConfigurationError(
            f"DATABASE_URL scheme {parts.scheme!r} is not supported: the reading center runs "
            "on PostgreSQL only (postgresql://user@host:5432/name)"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ConfigurationError("DATABASE_URL names no database: add /<name> after the host")
    options = dict(parse_qsl(parts.query))
    config = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        # A host given as ?host=/path selects a Unix socket (a project-local cluster under var/).
        "HOST": options.pop("host", None) or parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }
    return config


def orthanc_index_url(database: dict) -> str:
    """Orthanc's index database beside ours: same server and user, the name + "_orthanc"."""
    user = quote(database.get("USER") or "postgres", safe="")
    secret = f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "127.0.0.1"
    if host.startswith("/"):
        # Orthanc's plugin is given host and port, not a socket folder: the server's TCP port.
        host = "127.0.0.1"
    port = database.get("PORT") or "5432"
    name = quote(f"{database['NAME']}_orthanc", safe="")
    return f"postgresql://{user}{secret}@{host}:{port}/{name}"
