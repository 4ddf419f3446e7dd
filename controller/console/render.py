"""Drawing for the console: curves in Braille dots, progress bars, side-by-side columns, error lines.

No plotting library: a Braille character holds a 2x4 grid of dots, so a chart of W x H characters has
2W x 4H points, enough for a loss curve in a terminal. Where the output cannot carry Braille (an ASCII
locale), `*` and `o` stand in.
"""

from __future__ import annotations

import itertools
import math
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

# Bit of each dot in a Braille cell, by (column, row) within the cell.
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_BRAILLE_BASE = 0x2800


@dataclass(frozen=True)
class Series:
    """A named list of (step, value) points; `marker` series are drawn as dots, others as a line."""

    name: str
    points: Sequence[tuple[float, float]]
    marker: bool = False


def can_draw_unicode(out: TextIO) -> bool:
    encoding = getattr(out, "encoding", None) or "ascii"
    try:
        "⣿•┤└".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def chart(
    title: str,
    series: Sequence[Series],
    *,
    width: int = 48,
    height: int = 6,
    x_max: float | None = None,
    unicode: bool = True,
    value_format: str = "{:.3f}",
    label_width: int = 0,
) -> list[str]:
    """Lines of a chart of `series`, sharing axes: y from the smallest to the largest value, x from 0."""
    values = [v for s in series for _, v in s.points if math.isfinite(v)]
    steps = [x for s in series for x, _ in s.points]
    if not values:
        return [f"{title}: no points yet"]
    low, high = min(values), max(values)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    right = max([*steps, x_max or 0.0, 1.0])
    columns, rows = width * 2, height * 4
    dots = [[0] * width for _ in range(height)]
    marks: set[tuple[int, int]] = set()

    def pixel(x: float, y: float) -> tuple[int, int]:
        px = round(x / right * (columns - 1))
        py = round((high - y) / (high - low) * (rows - 1))
        return min(columns - 1, max(0, px)), min(rows - 1, max(0, py))

    for s in series:
        points = sorted((x, y) for x, y in s.points if math.isfinite(y))
        pixels = [pixel(x, y) for x, y in points]
        if s.marker:
            marks.update((px // 2, py // 4) for px, py in pixels)
            continue
        for (x0, y0), (x1, y1) in itertools.pairwise(pixels):
            for px, py in _segment(x0, y0, x1, y1):
                dots[py // 4][px // 2] |= _DOTS[px % 2][py % 4]
        for px, py in pixels[:1]:
            dots[py // 4][px // 2] |= _DOTS[px % 2][py % 4]

    high_label, low_label = value_format.format(high), value_format.format(low)
    pad = max(len(high_label), len(low_label), len(title), label_width)
    lines = []
    for row in range(height):
        cells = []
        for col in range(width):
            if (col, row) in marks:
                cells.append("•" if unicode else "o")
            elif dots[row][col]:
                cells.append(chr(_BRAILLE_BASE + dots[row][col]) if unicode else "*")
            else:
                cells.append(" ")
        label = high_label if row == 0 else low_label if row == height - 1 else ""
        if row == height // 2 and height > 2:
            label = title
        tick = ("┤" if unicode else "|") if label and label != title else ("│" if unicode else "|")
        lines.append(f"{label.rjust(pad)} {tick}{''.join(cells).rstrip()}")
    corner, rule = ("└", "─") if unicode else ("+", "-")
    lines.append(" " * (pad + 1) + corner + rule * width)
    left_label, right_label = "0", f"{right:g}"
    lines.append(" " * (pad + 2) + left_label + right_label.rjust(width - len(left_label)) + " step")
    legend = []
    for s in series:
        if not s.points:
            continue
        symbol = ("•" if unicode else "o") if s.marker else ("⣀" if unicode else "*")
        last = sorted(s.points)[-1][1]
        legend.append(f"{symbol} {s.name} {value_format.format(last)}")
    lines.append(" " * (pad + 2) + "   ".join(legend))
    return lines


def _segment(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int]]:
    """The pixels of a straight line between two pixels (Bresenham)."""
    out = []
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        out.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return out
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def bar(percent: float, width: int = 24, *, unicode: bool = True) -> str:
    filled = round(width * max(0.0, min(100.0, percent)) / 100)
    full, empty = ("█", "░") if unicode else ("#", ".")
    return full * filled + empty * (width - filled)


def duration(seconds: float) -> str:
    """`1h 05m`, `12m 30s`, `45s`."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def side_by_side(left: str, right: str, width: int, gap: str = " │ ") -> list[str]:
    """Two texts wrapped into columns of `width` characters, line by line."""
    a = textwrap.wrap(left, width) or [""]
    b = textwrap.wrap(right, width) or [""]
    rows = max(len(a), len(b))
    a += [""] * (rows - len(a))
    b += [""] * (rows - len(b))
    return [f"{x.ljust(width)}{gap}{y}".rstrip() for x, y in zip(a, b, strict=True)]


def error_line(message: str, err: TextIO | None = None) -> None:
    """One line on stderr, whatever the message held."""
    text = " ".join(message.split())
    print(f"error: {text}", file=err or sys.stderr, flush=True)
