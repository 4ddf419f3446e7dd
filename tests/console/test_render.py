"""The drawing primitives: a falling curve falls on screen, and an ASCII terminal still gets a chart."""

from __future__ import annotations

import io

from controller.console.render import Series, bar, can_draw_unicode, chart, duration, side_by_side

FALLING = [(float(step), 2.5 - step * 0.04) for step in range(1, 61)]


def _rows_with_ink(lines: list[str], plot_lines: int) -> list[list[int]]:
    """For each plot row, the columns holding a dot (the text after the axis)."""
    out = []
    for line in lines[:plot_lines]:
        body = line.split("┤" if "┤" in line else "│", 1)[1]
        out.append([i for i, c in enumerate(body) if c != " "])
    return out


def test_a_falling_curve_starts_top_left_and_ends_bottom_right() -> None:
    lines = chart("loss", [Series("training", FALLING)], width=30, height=5, x_max=60)
    ink = _rows_with_ink(lines, 5)
    assert ink[0] and ink[-1], "the curve should reach the top and the bottom row"
    assert min(ink[0]) < min(ink[-1]), "the top row should be inked further left than the bottom one"
    assert lines[0].lstrip().startswith("2.460 ┤") and lines[4].lstrip().startswith("0.100 ┤")
    assert lines[-1].strip() == "⣀ training 0.100"


def test_validation_points_are_markers_and_named_in_the_legend() -> None:
    evaluation = [(float(step), 2.6 - step * 0.04) for step in range(6, 61, 6)]
    lines = chart("loss", [Series("training", FALLING), Series("validation", evaluation, marker=True)])
    assert sum(line.count("•") for line in lines[:-1]) >= 8
    assert lines[-1].strip() == "⣀ training 0.100   • validation 0.200"


def test_ascii_output_gets_an_ascii_chart() -> None:
    assert not can_draw_unicode(io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    assert can_draw_unicode(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    lines = chart("loss", [Series("training", FALLING)], unicode=False)
    assert all(line.isascii() for line in lines)
    assert any("*" in line for line in lines)


def test_no_points_is_said_not_drawn() -> None:
    assert chart("loss", [Series("training", [])]) == ["loss: no points yet"]


def test_bar_duration_and_columns() -> None:
    assert bar(50, width=10) == "█████░░░░░"
    assert bar(150, width=4, unicode=False) == "####"
    assert [duration(s) for s in (5, 75, 3725)] == ["5s", "1m 15s", "1h 02m"]
    assert side_by_side("one two three", "four", 8) == ["one two  │ four", "three    │"]
