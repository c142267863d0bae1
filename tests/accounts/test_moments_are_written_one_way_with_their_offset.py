"""Every moment is written one way, with an unambiguous zone: "2026-12-05 20:50 UTC+8"."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path

from django.template import Context, Template
from django.utils import timezone

from readingcenter.accounts.moments import moment_text, offset_text

MOMENT = dt.datetime(2026, 12, 5, 12, 50, tzinfo=dt.UTC)
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_it_writes_the_offset_not_an_abbreviation():
    # "CST" would be China or US Central; the offset is one or the other.
    assert moment_text(MOMENT, zoneinfo.ZoneInfo("Asia/Shanghai")) == "2026-12-05 20:50 UTC+8"
    assert moment_text(MOMENT, zoneinfo.ZoneInfo("America/Chicago")) == "2026-12-05 06:50 UTC-6"
    assert moment_text(MOMENT, zoneinfo.ZoneInfo("Asia/Kolkata")) == "2026-12-05 18:20 UTC+5:30"
    assert moment_text(MOMENT, dt.UTC) == "2026-12-05 12:50 UTC"
    assert offset_text(dt.timedelta(hours=-3, minutes=-30)) == "UTC-3:30"


def test_the_filter_follows_the_users_zone_and_is_on_every_page():
    with timezone.override(zoneinfo.ZoneInfo("Asia/Seoul")):
        html = Template("{{ at|when }}|{{ nothing|when|default:'-' }}").render(
            Context({"at": MOMENT, "nothing": None})
        )
    assert html == "2026-12-05 21:50 UTC+9|-"


def test_no_template_writes_a_time_any_other_way():
    # Dates (a study date, a birth date) are days; anything with hours goes through |when.
    timed = re.compile(r"""\|(?:date|time):["'][^"']*[HhGgisaAPTeOZcrU][^"']*["']""")
    found = [
        f"{path.relative_to(TEMPLATES)}:{n}"
        for path in TEMPLATES.rglob("*.html")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        for match in timed.finditer(line)
        if "datetime=" not in line[max(0, match.start() - 40) : match.start()]
    ]
    assert found == [], found
