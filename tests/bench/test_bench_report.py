"""The benchmark's arithmetic and its table, on made-up runs: no control plane needed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from bench.figures import RunResult
from bench.report import Report, render, summary_rows
from bench.stats import percentile, summarize
from bench.svg import bar_chart, cdf_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_summary_is_median_min_max() -> None:
    s = summarize([3.0, 1.0, 10.0])
    assert (s.median, s.minimum, s.maximum, s.runs) == (3.0, 1.0, 10.0, 3)


def _burst(ratio: float, total: float) -> RunResult:
    run = RunResult("burst")
    run.add("operator_total", "500 jobs: first apply -> last RUNNING", "s", total)
    run.add("ratio", "operator total / floor", "x", ratio, "target <= 2x the floor")
    run.add("duplicates", "duplicate creates", "calls", 0)
    run.samples["apply to RUNNING (s)"] = [1.0, 2.0, 3.0]
    return run


def _report(runs: list[RunResult]) -> Report:
    moment = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    return Report(
        started=moment,
        finished=moment,
        machine={
            "cores": "2",
            "cpu": "test",
            "memory": "1 GiB",
            "kernel": "6",
            "python": "3.11.7",
            "kubernetes": "v1.35.4",
        },
        args={"repeat": len(runs)},
        note="a note for the reader",
        quick=False,
        results={"burst": runs},
    )


def test_rows_take_the_median_of_runs_in_the_scenario_order() -> None:
    rows = summary_rows([_burst(3.0, 30.0), _burst(1.5, 10.0), _burst(2.5, 20.0)])
    assert [figure.key for figure, *_ in rows] == ["operator_total", "ratio", "duplicates"]
    _, median, low, high, count = rows[1]
    assert (median, low, high, count) == (2.5, 1.5, 3.0, 3)


def test_render_states_each_target_and_whether_it_was_met() -> None:
    text = render(_report([_burst(3.0, 30.0), _burst(1.5, 10.0), _burst(2.5, 20.0)]))
    assert "| burst total within 2x the floor | 2.5 x | **no** |" in text
    assert "| no duplicate create in the burst | 0 calls | yes |" in text
    assert "| operator total / floor | 2.5 | 1.5 | 3 | x | target <= 2x the floor |" in text
    assert "- Note: a note for the reader" in text
    assert "3 run(s)." in text


def test_cdf_has_a_step_per_sample_and_the_marker() -> None:
    root = ET.fromstring(cdf_chart("t", "s", {"a": [1.0, 2.0, 3.0]}, {"floor": 2.0}))  # noqa: S314
    (curve,) = root.findall(f"{SVG}polyline")
    assert len(curve.get("points", "").split()) == 1 + 2 * 3
    assert any(t.text == "floor" for t in root.iter(f"{SVG}text"))


def test_bars_grow_with_their_values_on_the_log_axis() -> None:
    root = ET.fromstring(bar_chart("t", "calls", [("a", 60.0), ("b", 6.0), ("c", 0.6)]))  # noqa: S314
    widths = [float(r.get("width", "0")) for r in root.iter(f"{SVG}rect") if r.get("fill") != "white"]
    assert len(widths) == 3
    assert widths[0] > widths[1] > widths[2] > 0
