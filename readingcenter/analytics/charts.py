"""Charts as inline SVG, drawn on the server: no JavaScript library, nothing fetched.

Each function returns markup safe to place in a template; every label is escaped here.
"""

from __future__ import annotations

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

COLOURS = ("#4c78a8", "#f58518", "#e45756", "#72b7b2")
# Text as big as the page's own small print; a chart never shrinks it below about 11 px
# (``_svg``'s min-width), it scrolls sideways instead.
FONT_SIZE = 13
FONT = f'font-family="system-ui, sans-serif" font-size="{FONT_SIZE}"'
# About how wide a character is at FONT_SIZE, for room to write a label whole.
CHAR_W = 7.4


def _fit(label: str, room: float) -> str:
    """The label whole when it fits the room on the left, else cut with an ellipsis (the
    whole of it stays in the tooltip)."""
    most = int((room - 14) / CHAR_W)
    return label if len(label) <= most else label[: max(1, most - 1)] + "…"


def _svg(width: float, height: float, title: str) -> str:
    return (
        f'<svg class="chart" role="img" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'style="width: 100%; min-width: {width * 0.85:.0f}px; max-width: {width:.0f}px; '
        f'height: auto" {FONT}><title>{escape(title)}</title>'
    )


def _no_data() -> SafeString:
    return format_html('<p class="muted">{}</p>', _("No data for this period."))


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%"
    return f"{value:,.0f} {unit}" if value >= 10 else f"{value:,.1f} {unit}"


def bars(
    rows: list[tuple[str, list[float | None]]],
    series: list[str],
    unit: str = "min",
    *,
    title: str = "",
    scale_max: float | None = None,
) -> SafeString:
    """Horizontal grouped bars: one group per row label, one bar per series (p50, p90, p95)."""
    if not rows:
        return _no_data()
    # The longest label written whole (names of hospitals and radiologists are long).
    longest = max((len(label) for label, _values in rows), default=0)
    label_w = min(330, max(90, CHAR_W * longest + 14))
    bar_w, bar_h, gap = 380, 14, 10
    values = [v for _label, vs in rows for v in vs if v is not None]
    top = scale_max or max(values, default=0) or 1.0
    group_h = bar_h * len(series) + gap
    legend_h = 24
    height = legend_h + group_h * len(rows) + 4
    width = label_w + bar_w + 100  # room for the value after the longest bar
    parts = [_svg(width, height, title)]
    for i, name in enumerate(series):
        x = label_w + i * 80
        parts.append(
            f'<rect x="{x}" y="4" width="12" height="12" fill="{COLOURS[i % 4]}"/>'
            f'<text x="{x + 16}" y="15">{escape(name)}</text>'
        )
    for r, (label, vs) in enumerate(rows):
        y0 = legend_h + r * group_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y0 + group_h / 2}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(_fit(label, label_w))}<title>{escape(label)}'
            f"</title></text>"
        )
        for i, v in enumerate(vs):
            y = y0 + i * bar_h
            if v is None:
                continue
            w = max(1.0, bar_w * min(v, top) / top)
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 1}" '
                f'fill="{COLOURS[i % 4]}"><title>{escape(label)} {escape(series[i])}: '
                f"{escape(_fmt(v, unit))}</title></rect>"
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 2}" font-size="12">'
                f"{escape(_fmt(v, unit))}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every label escaped above)


def hours(
    counts: list[int], p50: list[float | None], p90: list[float | None], *, title: str = ""
) -> SafeString:
    """24 columns of volume by hour of arrival, with p50 and p90 TAT drawn as lines."""
    if not any(counts):
        return _no_data()
    left, col_w, plot_h, bottom = 40, 26, 180, 40
    width, height = left + col_w * 24 + 50, plot_h + bottom + 24
    top_n = max(counts) or 1
    tat = [v for v in (*p50, *p90) if v is not None]
    top_t = max(tat, default=0) or 1.0
    parts = [
        _svg(width, height, title),
        f'<text x="{left}" y="14">'
        + escape(_("bars: cases · lines: TAT p50 %(p50)s p90 %(p90)s (max %(max)s)"))
        % {
            "p50": f'<tspan fill="{COLOURS[1]}">━</tspan>',
            "p90": f'<tspan fill="{COLOURS[2]}">━</tspan>',
            "max": escape(_fmt(top_t, "min")),
        }
        + "</text>",
    ]
    base = 24 + plot_h
    for h, n in enumerate(counts):
        x = left + h * col_w
        bh = plot_h * n / top_n
        parts.append(
            f'<rect x="{x + 3}" y="{base - bh:.1f}" width="{col_w - 6}" height="{bh:.1f}" '
            f'fill="{COLOURS[0]}" opacity="0.7"><title>'
            + escape(_("%(hour)s · %(count)s cases") % {"hour": f"{h:02d}:00", "count": n})
            + "</title></rect>"
        )
        if h % 3 == 0:
            parts.append(f'<text x="{x + col_w / 2}" y="{base + 16}" text-anchor="middle">'
                         f"{h:02d}</text>")  # fmt: skip
    for values, colour in ((p50, COLOURS[1]), (p90, COLOURS[2])):
        points = [
            f"{left + h * col_w + col_w / 2:.1f},{base - plot_h * v / top_t:.1f}"
            for h, v in enumerate(values)
            if v is not None
        ]
        if points:
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{" ".join(points)}"/>'
            )
    parts.append(f'<text x="{left}" y="{base + 34}">{escape(_("hour of arrival"))}</text></svg>')
    return mark_safe("".join(parts))  # noqa: S308 (every label escaped above)
