"""Charts as inline SVG, drawn on the server: no JavaScript library, nothing fetched.

Each function returns markup safe to place in a template; every label is escaped here.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLOURS = ("#4c78a8", "#f58518", "#e45756", "#72b7b2")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


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
        return mark_safe('<p class="muted">No data for this period.</p>')
    label_w, bar_w, bar_h, gap = 170, 360, 9, 8
    values = [v for _, vs in rows for v in vs if v is not None]
    top = scale_max or max(values, default=0) or 1.0
    group_h = bar_h * len(series) + gap
    legend_h = 18
    height = legend_h + group_h * len(rows) + 4
    width = label_w + bar_w + 80
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'style="width: 100%; max-width: {width}px; height: auto" {FONT}>'
        f"<title>{escape(title)}</title>"
    ]
    for i, name in enumerate(series):
        x = label_w + i * 80
        parts.append(
            f'<rect x="{x}" y="3" width="10" height="10" fill="{COLOURS[i % 4]}"/>'
            f'<text x="{x + 14}" y="12">{escape(name)}</text>'
        )
    for r, (label, vs) in enumerate(rows):
        y0 = legend_h + r * group_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y0 + group_h / 2}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(label[:28])}</text>'
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
                f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 1}" font-size="9">'
                f"{escape(_fmt(v, unit))}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every label escaped above)


def hours(
    counts: list[int], p50: list[float | None], p90: list[float | None], *, title: str = ""
) -> SafeString:
    """24 columns of volume by hour of arrival, with p50 and p90 TAT drawn as lines."""
    if not any(counts):
        return mark_safe('<p class="muted">No data for this period.</p>')
    left, col_w, plot_h, bottom = 40, 24, 160, 36
    width, height = left + col_w * 24 + 50, plot_h + bottom + 20
    top_n = max(counts) or 1
    tat = [v for v in (*p50, *p90) if v is not None]
    top_t = max(tat, default=0) or 1.0
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'style="width: 100%; max-width: {width}px; height: auto" {FONT}>'
        f"<title>{escape(title)}</title>"
        f'<text x="{left}" y="12">bars: cases · lines: TAT p50 '
        f'<tspan fill="{COLOURS[1]}">━</tspan> p90 <tspan fill="{COLOURS[2]}">━</tspan>'
        f" (max {escape(_fmt(top_t, 'min'))})</text>"
    ]
    base = 20 + plot_h
    for h, n in enumerate(counts):
        x = left + h * col_w
        bh = plot_h * n / top_n
        parts.append(
            f'<rect x="{x + 3}" y="{base - bh:.1f}" width="{col_w - 6}" height="{bh:.1f}" '
            f'fill="{COLOURS[0]}" opacity="0.7"><title>{h:02d}:00 · {n} cases</title></rect>'
        )
        if h % 3 == 0:
            parts.append(f'<text x="{x + col_w / 2}" y="{base + 14}" text-anchor="middle">'
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
    parts.append(f'<text x="{left}" y="{base + 30}">hour of arrival</text></svg>')
    return mark_safe("".join(parts))  # noqa: S308 (every label escaped above)
