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

import pytest
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


# Debian's Chromium, driven by Playwright (never `playwright install`). OHIF needs WebGL, which
# headless Chromium gives through SwiftShader: never disable it.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is absent: `make setup`"
)


@pytest.fixture
def browser(monkeypatch):
    """A headless Chromium for the test; the test's database connections closed after it."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM queries
    # between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
            # Connections opened while Playwright's loop runs are kept per context, where
            # pytest-django never closes them: close them here, or the test database stays busy.
            connections.close_all()


@pytest.fixture
def live_server_daphne(transactional_db, tmp_path):
    """The project under daphne on the test database; no Orthanc (the viewer is stubbed).

    Hints from this server reach nobody else's browser (its own channel prefix)."""
    with daphne_server(
        tmp_path,
        CHANNELS_PREFIX=f"test-browser-{tmp_path.name}",
        READINGCENTER_VAR_DIR=str(tmp_path / "var"),
    ) as url:
        yield url


def server_password(user, password: str) -> None:
    """The tests hash with MD5 in this process; daphne knows only the production hashers."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode(password, hasher.salt(), iterations=1000)
    user.save(update_fields=["password"])


def log_in(page, url: str, username: str, password: str, then: str) -> None:
    """Sign in through the login page (and the authenticator step) and land on ``then``."""
    from readingcenter.accounts.models import User

    user = User.objects.get(username=username)
    page.goto(f"{url}/login/?next={then}")
    # By field name, not label: the page is in the browser's language until the user is known.
    form = page.locator("form:has(input[name=username])")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()
    enter_second_factor(page, user)
    page.wait_for_url(f"{url}{then}")


def enter_second_factor(page, user) -> None:
    """After the password: the code from the user's authenticator, when he needs one."""
    from tests.conftest import current_code, second_factor_device_for

    if user.requires_second_factor:
        page.wait_for_url("**/login/verify/**")
        form = page.locator("form:has(input[name=token])")
        form.locator("input[name=token]").fill(current_code(second_factor_device_for(user)))
        form.locator("button[type=submit]").click()


def stub_viewer(context) -> None:
    """The case page's OHIF frame as a black page (the viewer has its own browser tests)."""
    import re

    context.route(
        re.compile(r".*/ohif/.*"),
        lambda route: route.fulfill(
            status=200,
            content_type="text/html",
            body="<body style='background:#000;color:#999'>viewer (stubbed)</body>",
        ),
    )


def screenshots(tmp_path: Path) -> Path:
    """Where a browser test keeps its screenshots: BROWSER_SCREENSHOTS, else under its tmp
    folder; printed, so that a run says where to look."""
    folder = Path(os.environ.get("BROWSER_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder
