"""send_studies plays a hospital: synthetic studies over real C-STORE into a real Orthanc."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def _send(*args: str) -> dict:
    out = io.StringIO()
    call_command("send_studies", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def _studies_of(summary: dict) -> list:
    return summary["studies"]


@pytest.mark.parametrize("sender", ["pynetdicom", "storescu"])
def test_synthetic_studies_and_their_late_series_arrive(orthanc, sender):
    summary = _send("--aet", "ALPHA_CT", "--synthetic", "3", "--kind", "mixed", "--slices", "4",
                    "--seed", "7", "--late-series-after", "0", "--sender", sender)  # fmt: skip
    assert summary["seed"] == 7 and len(summary["studies"]) == 3
    assert summary["late_series_instances"] > 0
    assert summary["sent"] == summary["instances"] and summary["failed"] == 0
    assert {s["accession_number"][:4] for s in summary["studies"]} == {"ALPH"}
    stored = orthanc.client().get_json("/instances")
    assert len(stored) == summary["instances"]


def test_a_seed_replays_the_same_studies(orthanc):
    args = ("--aet", "ALPHA_CT", "--synthetic", "2", "--slices", "3", "--seed", "11")
    first, again = _send(*args), _send(*args)
    assert _studies_of(first) == _studies_of(again)
    assert first["findings"] == again["findings"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--synthetic", "0"), "--synthetic needs at least 1 study"),
        (("--synthetic", "1", "--finding-rate", "1.5"), "--finding-rate is a fraction"),
        (("--synthetic", "1", "--slices", "2"), "--slices must be at least 3"),
        (("--synthetic", "1", "--accession-prefix", "TOOLONGPFX"), "at most 8 characters"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("send_studies", "--aet", "ALPHA_CT", *args, "--port", "1",
                     stdout=io.StringIO(), stderr=io.StringIO())  # fmt: skip
