"""RESULTS.md: every figure as the median of the runs with its min and max, beside what it is compared with.

The file is written by the tool and kept in the repository, so a performance claim in the docs always
points at a measured, dated number and the machine it was measured on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.figures import Figure, RunResult
from bench.stats import summarize
from bench.svg import bar_chart, cdf_chart

TITLES = {
    "burst": "Burst latency: TuningJobs applied at once",
    "polling": "Polling cost: running jobs over simulated hours",
    "memory": "Memory: TuningJobs in the operator's cache",
    "running": "Memory: running TuningJobs the operator follows",
    "restart": "Restart: the operator killed with running jobs",
    "cpu": "CPU per job lifecycle",
    "preflight": "Dataset preflight: a 1 GB JSONL checked from Cloud Storage",
}
LATENCY_CHART = "burst-latency.svg"
CALLS_CHART = "polling-calls.svg"
# (scenario, figure key, goal in words, predicate on the median)
TARGETS: tuple[tuple[str, str, str, Any], ...] = (
    ("burst", "ratio", "burst total within 2x the floor", lambda v: v <= 2.0),
    (
        "burst",
        "requests_per_job",
        "at most 4 API-server requests per created resource (apply included; the operator's few watch "
        "requests, shared by all resources, add a few thousandths)",
        lambda v: v < 4.1,
    ),
    ("polling", "ratio_state", "at least 20x fewer job-state calls than the baseline", lambda v: v >= 20.0),
    (
        "polling",
        "ratio_all",
        "at least 20x fewer Google calls (metrics reads too) than the baseline",
        lambda v: v >= 20,
    ),
    ("memory", "loaded_rss", "under 200 MiB resident with the objects cached", lambda v: v < 200.0),
    (
        "running",
        "loaded_rss",
        "under 200 MiB resident following 10,000 running jobs",
        lambda v: v < 200.0,
    ),
    (
        "polling",
        "later_google_calls",
        "at most 6 Google calls per job-hour (metrics included) once a job's series are found",
        lambda v: v <= 6.0,
    ),
    (
        "polling",
        "life_google_calls",
        "at most 6 Google calls per job-hour over a job's first hours",
        lambda v: v <= 6.0,
    ),
    (
        "polling",
        "later_all_writes",
        "at most 6 API-server writes per running job-hour",
        lambda v: v <= 6.0,
    ),
    ("restart", "fresh_seconds", "every status fresh within 30 s of a restart", lambda v: v <= 30.0),
    ("restart", "duplicates", "no duplicate create", lambda v: v == 0),
    ("burst", "duplicates", "no duplicate create in the burst", lambda v: v == 0),
    ("preflight", "rss_growth", "dataset preflight under 100 MiB RSS growth", lambda v: v < 100.0),
)


@dataclass
class Report:
    started: datetime
    finished: datetime
    machine: Mapping[str, str]
    args: Mapping[str, Any]
    note: str
    quick: bool
    results: Mapping[str, Sequence[RunResult]]
    failures: Sequence[str] = ()


def summary_rows(runs: Sequence[RunResult]) -> list[tuple[Figure, float, float, float, int]]:
    """(first run's figure, median, min, max, runs) per figure key, in the order the scenario reports them."""
    rows = []
    for figure in runs[0].figures:
        values = [run.value(figure.key) for run in runs]
        s = summarize(values)
        rows.append((figure, s.median, s.minimum, s.maximum, s.runs))
    return rows


def _number(value: float, unit: str) -> str:
    if unit in ("calls", "jobs", "writes") and value == int(value):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def render(report: Report) -> str:
    lines = ["# vertexops benchmark results", ""]
    lines.append(
        "Written by `python -m bench` (see `bench/run.py`); do not edit by hand. Each figure is the median "
        "of the runs, with the smallest and largest value seen."
    )
    lines.append("")
    if report.quick:
        lines += ["**Quick mode**: small sizes, for CI; these numbers say nothing about performance.", ""]
    lines += [
        f"- Date: {report.started:%Y-%m-%d %H:%M} to {report.finished:%H:%M} UTC",
        f"- Machine: {report.machine.get('cores')} cores ({report.machine.get('cpu')}), "
        f"{report.machine.get('memory')} memory, Linux {report.machine.get('kernel')}",
        f"- Python {report.machine.get('python')}, Kubernetes (kube-apiserver) "
        f"{report.machine.get('kubernetes')}, etcd and kube-apiserver on loopback, emulator and operator as "
        "separate processes",
        "- Settings: " + ", ".join(f"`{k}={v}`" for k, v in sorted(report.args.items())),
    ]
    if report.note:
        lines.append(f"- Note: {report.note}")
    lines.append("")
    if report.failures:
        lines += ["**Failed runs** (not in the figures below):", ""]
        lines += [f"- {failure}" for failure in report.failures]
        lines.append("")

    targets = [t for t in TARGETS if t[0] in report.results and report.results[t[0]]]
    if targets:
        lines += ["## Targets", "", "| goal | median | met |", "|---|---|---|"]
        for scenario, key, goal, met in targets:
            runs = report.results[scenario]
            try:
                values = [run.value(key) for run in runs]
            except KeyError:
                continue
            s = summarize(values)
            unit = runs[0].figures[[f.key for f in runs[0].figures].index(key)].unit
            verdict = "yes" if met(s.median) else "**no**"
            lines.append(f"| {goal} | {_number(s.median, unit)} {unit} | {verdict} |")
        lines.append("")

    for scenario, runs in report.results.items():
        if not runs:
            continue
        lines += [f"## {TITLES.get(scenario, scenario)}", ""]
        lines += ["| figure | median | min | max | unit | compared with |", "|---|---:|---:|---:|---|---|"]
        for figure, median, low, high, _count in summary_rows(runs):
            lines.append(
                f"| {figure.label} | {_number(median, figure.unit)} | {_number(low, figure.unit)} | "
                f"{_number(high, figure.unit)} | {figure.unit} | {figure.compare} |"
            )
        lines.append(f"\n{len(runs)} run(s).")
        notes = sorted({note for run in runs for note in run.notes})
        lines += [f"{note}." if not note.endswith(".") else note for note in notes]
        if scenario == "burst":
            lines += ["", f"![Burst latency distribution]({LATENCY_CHART})"]
        if scenario == "polling":
            lines += ["", f"![Google calls per job-hour against the baseline]({CALLS_CHART})"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def write_charts(report: Report, directory: Path) -> list[Path]:
    written = []
    burst = report.results.get("burst") or []
    if burst:
        series: dict[str, list[float]] = {}
        for run in burst:
            for name, values in run.samples.items():
                series.setdefault(name, []).extend(values)
        floor = summarize([run.value("floor_total") for run in burst]).median
        jobs = len(burst[0].samples.get("apply to RUNNING (s)", []))
        svg = cdf_chart(
            f"Burst of {jobs} TuningJobs: latency per resource ({len(burst)} runs pooled)",
            "seconds since the resource was applied",
            series,
            {f"floor: bare client total ({floor:.1f} s)": floor},
        )
        path = directory / LATENCY_CHART
        path.write_text(svg)
        written.append(path)
    polling = report.results.get("polling") or []
    if polling:
        bars = []
        for name in (
            "baseline calls per job-hour",
            "operator calls per job-hour",
            "operator job-state calls per job-hour",
        ):
            values = [v for run in polling for v in run.samples.get(name, [])]
            if values:
                bars.append((name, summarize(values).median))
        path = directory / CALLS_CHART
        chart = bar_chart("Google API calls per job-hour (median of runs)", "calls per job-hour", bars)
        path.write_text(chart)
        written.append(path)
    return written


def to_json(report: Report) -> dict[str, Any]:
    """Every run's figures, for tools (and the quick-mode test) that should not parse Markdown."""
    return {
        "started": report.started.isoformat(),
        "finished": report.finished.isoformat(),
        "machine": dict(report.machine),
        "settings": {k: v for k, v in report.args.items()},
        "quick": report.quick,
        "failures": list(report.failures),
        "scenarios": {
            scenario: [
                {f.key: {"label": f.label, "unit": f.unit, "value": f.value} for f in run.figures}
                for run in runs
            ]
            for scenario, runs in report.results.items()
        },
    }


def write_report(report: Report, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    write_charts(report, directory)
    (directory / "results.json").write_text(json.dumps(to_json(report), indent=1) + "\n")
    path = directory / "RESULTS.md"
    path.write_text(render(report))
    return path
