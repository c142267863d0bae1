"""The charts write their labels whole, at a readable size, and never shrink below it."""

from __future__ import annotations

import re

from readingcenter.analytics.charts import bars, hours

HOSPITAL = "Guangzhou Riverside People's Hospital"


def test_a_long_hospital_name_is_written_whole_and_the_values_fit():
    svg = str(bars([(HOSPITAL, [42.0, 95.5, 130.0]), ("Lakeview", [10.0, 20.0, None])],
                   ["p50", "p90", "p95"], title="TAT by hospital"))  # fmt: skip
    assert f">{HOSPITAL.replace(chr(39), '&#x27;')}<title>" in svg
    width = float(re.search(r'viewBox="0 0 (\d+)', svg).group(1))
    label_end = float(re.search(r'<text x="([\d.]+)"[^>]*text-anchor="end"', svg).group(1))
    assert label_end >= 7 * len(HOSPITAL)  # room on the left for the whole name
    # The longest bar's value label starts before the right edge with room for "130 min".
    value_x = max(float(x) for x in re.findall(r'<text x="([\d.]+)"[^>]*font-size="12"', svg))
    assert value_x + 7 * len("130 min") <= width


def test_text_is_not_tiny_and_the_chart_does_not_shrink_below_it():
    for svg in (str(bars([("CT", [1.0])], ["p50"])), str(hours([1] * 24, [5.0] * 24, [9.0] * 24))):
        sizes = [int(s) for s in re.findall(r'font-size="(\d+)"', svg)]
        assert min(sizes) >= 12, sizes
        width = float(re.search(r'viewBox="0 0 (\d+)', svg).group(1))
        min_width = float(re.search(r"min-width: (\d+)px", svg).group(1))
        assert min_width >= 0.85 * width - 1


def test_a_name_too_long_for_any_chart_is_cut_and_kept_whole_in_its_tooltip():
    name = "A" * 80
    svg = str(bars([(name, [1.0])], ["p50"]))
    assert f"<title>{name}</title>" in svg and "…" in svg
