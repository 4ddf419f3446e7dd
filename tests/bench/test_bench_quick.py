"""The benchmarks in quick mode, so their code cannot rot: every table row present, values sane.

Nothing here is about speed: the quick sizes are too small to mean anything, and the machine is shared.
The run is a separate process, as a user runs it, with its own control plane.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Every figure each scenario must report; a row that disappears is a regression of the benchmark itself.
EXPECTED: dict[str, set[str]] = {
    "burst": {
        "create_p50", "create_p95", "create_p99", "running_p50", "running_p95", "running_p99",
        "operator_total", "floor_total", "ratio", "requests_per_job", "floor_requests_per_job", "cpu_per_job",
        "server_cpu", "floor_server_cpu",
        "creates", "duplicates", "google_calls_per_job", "lookup_calls",
    },
    "polling": {
        "google_calls", "state_calls", "metrics_calls", "baseline_calls", "ratio_state", "ratio_all",
        "list_calls_per_location_hour", "status_writes", "all_writes", "reconciles", "queue_wait_sim",
        "cpu_per_job_hour",
        "state_calls_half", "state_calls_full", "growth_jobs", "state_calls_single", "growth_locations",
        "later_google_calls", "later_ratio_all", "later_status_writes", "later_all_writes",
        "life_google_calls", "life_all_writes",
        "flat_google_calls", "flat_all_writes", "flat_calls_ratio", "flat_writes_ratio",
        "flat_queue_wait_sim",
    },
    "memory": {"idle_rss", "loaded_rss", "bytes_per_object", "sync_seconds", "running"},
    "running": {
        "idle_rss", "loaded_rss", "bytes_per_job", "status_bytes", "running", "sync_seconds",
        "first_pass_seconds", "first_pass_calls",
    },
    "restart": {
        "fresh_seconds", "ready_seconds", "create_calls", "accepted_creates", "duplicates", "jobs_found",
    },
    "cpu": {
        "cpu_per_job", "cpu_per_job_net", "cpu_total", "span", "idle_cpu_share", "finished_cpu_share",
    },
    "preflight": {
        "size", "examples", "download_mbps", "parse_mbps", "check_mbps", "ratio", "parse_ratio",
        "check_seconds", "lines_per_second", "rss_growth", "download_rss_growth",
    },
}  # fmt: skip

# Figures that count things which must have happened at least once in any run.
POSITIVE = {
    "burst": (
        "creates",
        "operator_total",
        "floor_total",
        "running_p50",
        "cpu_per_job",
        "requests_per_job",
        "floor_requests_per_job",
    ),
    "polling": (
        "google_calls",
        "state_calls",
        "baseline_calls",
        "status_writes",
        "reconciles",
        "later_google_calls",
        "life_google_calls",
        "flat_google_calls",
        "flat_calls_ratio",
    ),
    "memory": ("idle_rss", "loaded_rss", "running"),
    "running": ("idle_rss", "loaded_rss", "status_bytes", "first_pass_calls"),
    "restart": ("fresh_seconds", "create_calls", "accepted_creates", "jobs_found"),
    "cpu": ("cpu_total", "span"),
    "preflight": ("size", "examples", "download_mbps", "parse_mbps", "check_mbps", "ratio", "parse_ratio"),
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert result.returncode == 0, f"python -m bench --quick failed:\n{result.stderr[-4000:]}"
    return out


def _figures(out: Path) -> dict[str, list[dict[str, dict[str, Any]]]]:
    data = json.loads((out / "results.json").read_text())
    assert data["quick"] is True
    assert data["failures"] == []
    scenarios: dict[str, list[dict[str, dict[str, Any]]]] = data["scenarios"]
    return scenarios


def test_every_scenario_reports_every_figure(quick_run: Path) -> None:
    scenarios = _figures(quick_run)
    assert set(scenarios) == set(EXPECTED)
    for scenario, runs in scenarios.items():
        assert runs, f"{scenario}: no run recorded"
        for run in runs:
            assert set(run) == EXPECTED[scenario], f"{scenario}: rows differ from the expected set"


def test_values_are_sane(quick_run: Path) -> None:
    scenarios = _figures(quick_run)
    for scenario, runs in scenarios.items():
        for run in runs:
            for key, figure in run.items():
                value = figure["value"]
                assert math.isfinite(value), f"{scenario}.{key} is {value}"
                if key not in ("cpu_per_job_net",):  # idle use is subtracted: may dip below zero
                    assert value >= 0, f"{scenario}.{key} is negative: {value}"
            for key in POSITIVE[scenario]:
                assert run[key]["value"] > 0, f"{scenario}.{key} should be > 0"
    burst = scenarios["burst"][0]
    assert burst["duplicates"]["value"] == 0
    assert burst["creates"]["value"] == 20  # one create per applied resource, the quick burst size
    # The floor is a create and a status patch per object; the operator cannot do with fewer than the
    # user's create, its intent write (with the finalizer) and its result write, plus the Created event.
    assert burst["floor_requests_per_job"]["value"] >= 2
    # Four per resource (apply, finalizer with intent, status, Created event) plus the operator's shared
    # watch requests spread over the 20 resources.
    assert 3 <= burst["requests_per_job"]["value"] < 4.5
    # Looking for a job to adopt shares the per-location listing: far fewer lists than resources.
    assert 1 <= burst["lookup_calls"]["value"] < burst["creates"]["value"] / 2
    restart = scenarios["restart"][0]
    assert restart["duplicates"]["value"] == 0
    # A create cut off by the kill may be sent again; each job is created by exactly one accepted call.
    assert restart["accepted_creates"]["value"] == restart["jobs_found"]["value"] == 20
    assert restart["create_calls"]["value"] >= 20
    running = scenarios["running"][0]
    assert running["running"]["value"] == 50  # every job still running when measured: all followed
    polling = scenarios["polling"][0]
    assert polling["baseline_calls"]["value"] == 60  # one get per job per simulated minute, for an hour


def test_markdown_table_and_charts(quick_run: Path) -> None:
    text = (quick_run / "RESULTS.md").read_text()
    scenarios = _figures(quick_run)
    for runs in scenarios.values():
        for figure in runs[0].values():
            assert f"| {figure['label']} |" in text, f"no table row for {figure['label']!r}"
    assert "Quick mode" in text
    assert "Python 3." in text and "Kubernetes" in text and "cores" in text
    svg = "{http://www.w3.org/2000/svg}"
    for chart in ("burst-latency.svg", "polling-calls.svg"):
        assert f"]({chart})" in text
    burst = ET.parse(quick_run / "burst-latency.svg").getroot()  # noqa: S314 - our own file
    # One curve per series (apply -> create call, apply -> RUNNING), each a step per resource.
    curves = burst.findall(f".//{svg}polyline")
    assert len(curves) == 2
    assert all(len(c.get("points", "").split()) == 1 + 2 * 20 for c in curves)
    calls = ET.parse(quick_run / "polling-calls.svg").getroot()  # noqa: S314 - our own file
    bars = [r for r in calls.findall(f".//{svg}rect") if r.get("fill") != "white"]
    assert len(bars) == 3  # baseline, operator (all calls), operator (job-state calls)
    assert all(float(bar.get("width", "0")) > 0 for bar in bars)
