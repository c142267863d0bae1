"""The demo's radiologists and managers have an authenticator whose code a command prints."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.test import Client


@pytest.mark.django_db
def test_a_demo_radiologist_signs_in_with_the_code_demo_code_prints(capsys):
    call_command("load_demo")
    capsys.readouterr()
    client = Client()
    client.post("/login/", {"username": "dr.kim", "password": "readingcenter-demo"})
    assert client.get("/worklist/")["Location"].startswith("/login/verify/")
    call_command("demo_code", "dr.kim")
    code = capsys.readouterr().out.strip()
    assert len(code) == 6 and code.isdigit()
    assert client.post("/login/verify/", {"token": code}).status_code == 302
    assert client.get("/worklist/").status_code == 200


@pytest.mark.django_db
def test_demo_code_reads_out_no_real_users_authenticator(radiologist):
    from tests.conftest import second_factor_device_for

    second_factor_device_for(radiologist)  # a real (non-demo) device
    with pytest.raises(CommandError, match="no demo authenticator"):
        call_command("demo_code", radiologist.username)
