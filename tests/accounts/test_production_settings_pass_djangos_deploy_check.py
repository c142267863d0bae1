"""`manage.py check --deploy` is clean under production settings, and says what is missing."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]


def _check_deploy(**env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    for name in ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY_FILE"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check", "--deploy", "--fail-level", "WARNING"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deploy_check():
    done = _check_deploy(
        DJANGO_HTTPS="true",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="rc.example.org",
        DJANGO_DEBUG="false",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_the_demo_settings_fail_it_and_say_what_to_set():
    done = _check_deploy(DJANGO_DEBUG="false")
    assert done.returncode != 0
    report = done.stdout + done.stderr
    assert "readingcenter.E001" in report and "DJANGO_SECRET_KEY" in report
    assert "readingcenter.W001" in report and "DJANGO_HTTPS=true" in report


@pytest.mark.django_db
def test_pages_carry_a_content_security_policy_with_a_nonce_for_their_scripts(radiologist):
    client = Client()
    client.force_login(radiologist)
    answer = client.get("/worklist/")
    policy = answer["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy
    assert "frame-ancestors 'self'" in policy
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    page = answer.content.decode()
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page)
    executable = [attrs for attrs in inline if "application/json" not in attrs]
    assert executable, "the worklist has an inline script: the test must see it"
    assert all(f'nonce="{nonce}"' in attrs for attrs in executable), executable
    # A new response, a new nonce.
    again = client.get("/worklist/")["Content-Security-Policy"]
    assert re.search(r"'nonce-([^']+)'", again).group(1) != nonce
