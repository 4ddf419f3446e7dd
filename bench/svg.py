"""Two small SVG charts written by hand: a cumulative distribution and labelled horizontal bars.

Plain SVG keeps the benchmark free of plotting dependencies, renders on GitHub, and diffs as text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

WIDTH, HEIGHT = 720, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 50, 60
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
FONT = 'font-family="sans-serif" font-size="12"'


def _nice_max(value: float) -> float:
    """A round axis end at or above `value` (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _header(title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="24" text-anchor="middle" font-family="sans-serif" font-size="15" '
        f'font-weight="bold">{escape(title)}</text>',
    ]


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:  # noqa: PLR0917
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {FONT}{extra}>{escape(text)}</text>'


def _box(x: float, y: float, width: float, height: float, fill: str) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{fill}"/>'


def cdf_chart(
    title: str, xlabel: str, series: Mapping[str, Sequence[float]], markers: Mapping[str, float] | None = None
) -> str:
    """Each series as a step curve of the share of items (y) done within x; markers as dashed verticals."""
    markers = markers or {}
    top = max([*(max(v) for v in series.values() if v), *markers.values(), 0.001])
    x_max = _nice_max(top * 1.05)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value: float) -> float:
        return LEFT + plot_w * value / x_max

    def y(share: float) -> float:
        return TOP + plot_h * (1 - share)

    out = _header(title)
    for i in range(6):
        tick = x_max * i / 5
        out.append(_line(x(tick), TOP, x(tick), TOP + plot_h, "#eee"))
        out.append(_text(x(tick), TOP + plot_h + 18, f"{tick:g}", "middle"))
        share = i / 5
        out.append(_line(LEFT, y(share), LEFT + plot_w, y(share), "#eee"))
        out.append(_text(LEFT - 8, y(share) + 4, f"{share * 100:.0f}%", "end"))
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>')
    out.append(_text(LEFT + plot_w / 2, HEIGHT - 18, xlabel, "middle"))
    rotate = f' transform="rotate(-90 16 {TOP + plot_h / 2})"'
    out.append(_text(16, TOP + plot_h / 2, "share of resources", "middle", rotate))
    legend_y = TOP + 16
    for index, (name, values) in enumerate(series.items()):
        color = COLORS[index % len(COLORS)]
        ordered = sorted(values)
        points = [f"{x(0):.1f},{y(0):.1f}"]
        for rank, value in enumerate(ordered, start=1):
            points.append(f"{x(value):.1f},{y((rank - 1) / len(ordered)):.1f}")
            points.append(f"{x(value):.1f},{y(rank / len(ordered)):.1f}")
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{" ".join(points)}"/>')
        out.append(_box(LEFT + plot_w - 250, legend_y - 9, 12, 12, color))
        out.append(_text(LEFT + plot_w - 232, legend_y + 1, name))
        legend_y += 18
    for name, value in markers.items():
        out.append(_line(x(value), TOP, x(value), TOP + plot_h, "#555", ' stroke-dasharray="6 4"'))
        out.append(_text(x(value) + 4, TOP + plot_h - 8, name))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def bar_chart(title: str, unit: str, bars: Sequence[tuple[str, float]]) -> str:
    """Horizontal bars on a logarithmic axis (the values differ by orders of magnitude), each labelled."""
    label_w = 300
    plot_w = WIDTH - label_w - RIGHT - 60
    row_h = 44
    height = TOP + row_h * len(bars) + BOTTOM
    low = min(v for _, v in bars if v > 0) if any(v > 0 for _, v in bars) else 1.0
    high = max(v for _, v in bars) if bars else 1.0
    lo_exp = math.floor(math.log10(low)) if low > 0 else 0
    hi_exp = max(lo_exp + 1, math.ceil(math.log10(high)) if high > 0 else 1)

    def width(value: float) -> float:
        if value <= 0:
            return 0.0
        return plot_w * (math.log10(value) - lo_exp + 0.3) / (hi_exp - lo_exp + 0.3)

    out = _header(title)
    out[0] = (
        out[0]
        .replace(f'height="{HEIGHT}"', f'height="{height}"')
        .replace(f"0 0 {WIDTH} {HEIGHT}", f"0 0 {WIDTH} {height}")
    )
    out[1] = f'<rect width="{WIDTH}" height="{height}" fill="white"/>'
    bottom = TOP + row_h * len(bars)
    for exponent in range(lo_exp, hi_exp + 1):
        tick = 10.0**exponent
        out.append(_line(label_w + width(tick), TOP, label_w + width(tick), bottom, "#ddd"))
        out.append(_text(label_w + width(tick), bottom + 16, f"{tick:g}", "middle"))
    for index, (name, value) in enumerate(bars):
        top = TOP + index * row_h
        color = COLORS[index % len(COLORS)]
        out.append(_text(label_w - 10, top + 24, name, "end"))
        out.append(_box(label_w, top + 8, width(value), 26, color))
        out.append(_text(label_w + width(value) + 6, top + 26, f"{value:,.3g}"))
    out.append(_text(label_w + plot_w / 2, height - 20, f"{unit} (logarithmic scale)", "middle"))
    out.append("</svg>")
    return "\n".join(out) + "\n"
