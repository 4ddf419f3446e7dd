"""`vertexops watch RESOURCE`: state, progress, ETA and the training curves of a job, live until it ends.

State and progress come from the resource's status (what the operator observed); the curves are read on
demand from Google with the user's credentials (see `history`). On a terminal the frame is redrawn in
place; anywhere else (a pipe, a CI log) one plain line is printed whenever something changed. `--once`
prints one full frame and exits.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from controller.console.google import gemini_client, vertex_client
from controller.console.history import CURVES, History, VertexHistory, gemini_history
from controller.console.render import Series, bar, can_draw_unicode, chart, duration, error_line
from controller.console.target import ConsoleError, Target, add_target_arguments, load_target
from controller.google.errors import GoogleAPIError
from controller.google.models_vertex import EVAL_ACCURACY, EVAL_TOTAL_LOSS, TRAIN_ACCURACY, TRAIN_TOTAL_LOSS

TERMINAL_STATES = frozenset(
    {
        "JOB_STATE_SUCCEEDED",
        "JOB_STATE_FAILED",
        "JOB_STATE_CANCELLED",
        "JOB_STATE_EXPIRED",
        "JOB_STATE_PARTIALLY_SUCCEEDED",
        "ACTIVE",
        "FAILED",
    }
)
SUCCESS_STATES = frozenset({"JOB_STATE_SUCCEEDED", "ACTIVE"})
SHORT_NAMES = {
    TRAIN_TOTAL_LOSS: "train_loss",
    EVAL_TOTAL_LOSS: "eval_loss",
    TRAIN_ACCURACY: "train_acc",
    EVAL_ACCURACY: "eval_acc",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("--once", action="store_true", help="print one frame (with the curves) and exit")
    parser.add_argument(
        "--interval", type=float, default=5.0, metavar="SECONDS", help="seconds between refreshes (default 5)"
    )
    parser.add_argument("--width", type=int, default=56, help="width of the curves in characters")


@dataclass
class Snapshot:
    """Everything one frame shows."""

    ref: str
    state: str
    sub_state: str
    percent: float | None
    step: int | None
    total_steps: int | None
    eta_seconds: float | None
    history: History
    metrics_error: str | None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES


def run(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        target = load_target(args)
        read_history = _history_reader(target, args)
        if args.once:
            snapshot = take(target, read_history)
            out.write("\n".join(frame(snapshot, args.width, unicode=can_draw_unicode(out))) + "\n")
            if snapshot.metrics_error:
                error_line(snapshot.metrics_error, err)
                return 1
            return 0
        return _live(target, read_history, args, out)
    except (ConsoleError, GoogleAPIError) as error:
        error_line(str(error), err)
        return 1
    except KeyboardInterrupt:
        return 130


def _history_reader(target: Target, args: argparse.Namespace) -> Callable[[], History]:
    if target.kind == "TunedModel":
        client = gemini_client(args, target)
        return lambda: (
            gemini_history(client, str(target.status["name"])) if target.status.get("name") else History()
        )
    vertex = vertex_client(args)
    readers: dict[str, VertexHistory] = {}

    def read() -> History:
        name, experiment = target.status.get("name"), target.status.get("experiment")
        if not name or not experiment:
            return History()  # the job has not started: nothing logged yet
        reader = readers.setdefault(str(name), VertexHistory(vertex, str(name), str(experiment)))
        return reader.read()

    return read


def take(target: Target, read_history: Callable[[], History]) -> Snapshot:
    status = target.status
    try:
        history, metrics_error = read_history(), None
    except GoogleAPIError as error:
        history, metrics_error = History(), f"reading the metrics: {error}"
    if target.kind == "TunedModel":
        total = _int(status.get("totalSteps"))
        step = _int(status.get("completedSteps"))
        percent = status.get("completedPercent")
        percent = float(percent) if isinstance(percent, int | float) else None
    else:
        stats = status.get("tuningDataStats") or status.get("preferenceOptimizationDataStats") or {}
        total = _int(stats.get("tuningStepCount"))
        latest = history.latest(TRAIN_TOTAL_LOSS)
        step = latest.step if latest else _int((status.get("latestMetrics") or {}).get("step"))
        progress = str(status.get("progress") or "")
        percent = float(progress.rstrip("%")) if progress.endswith("%") else None
    state = str(status.get("state") or "no state yet")
    if state in SUCCESS_STATES:
        percent, step = 100.0, total or step
    eta = None
    pace = history.pace_seconds_per_step()
    if pace is not None and total and step is not None and state not in TERMINAL_STATES:
        eta = pace * max(0, total - step)
    return Snapshot(
        ref=target.ref,
        state=state,
        sub_state=_sub_state(target),
        percent=percent,
        step=step,
        total_steps=total,
        eta_seconds=eta,
        history=history,
        metrics_error=metrics_error,
    )


def _sub_state(target: Target) -> str:
    """The operator's reason for where the job is (JobPending, JobRunning, JobFailed, ...)."""
    for type_ in ("Stalled", "Reconciling", "Ready"):
        condition = target.condition(type_)
        if condition.get("status") == "True":
            return str(condition.get("reason") or "")
    return str(target.condition("Ready").get("reason") or "")


def _int(value: object) -> int | None:
    try:
        return int(value) if value is not None else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _progress_text(s: Snapshot) -> str:
    parts = []
    if s.percent is not None:
        parts.append(f"{s.percent:.0f}%")
    if s.step is not None and s.total_steps:
        parts.append(f"step {s.step}/{s.total_steps}")
    if s.eta_seconds is not None:
        parts.append(f"ETA {duration(s.eta_seconds)}")
    return "  ".join(parts) or "no progress yet"


def frame(s: Snapshot, width: int, *, unicode: bool) -> list[str]:
    """The full picture: a header, a progress bar, the loss and accuracy curves."""
    lines = [f"{s.ref}  {s.state}" + (f" ({s.sub_state})" if s.sub_state else "")]
    lines.append(f"[{bar(s.percent or 0.0, width=min(40, width), unicode=unicode)}] {_progress_text(s)}")
    x_max = float(s.total_steps) if s.total_steps else None
    for title, train, evaluation, fmt in (
        ("loss", TRAIN_TOTAL_LOSS, EVAL_TOTAL_LOSS, "{:.3f}"),
        ("accuracy", TRAIN_ACCURACY, EVAL_ACCURACY, "{:.3f}"),
    ):
        series = [
            Series("training", [(p.step, p.value) for p in s.history.curves.get(train, [])]),
            Series(
                "validation", [(p.step, p.value) for p in s.history.curves.get(evaluation, [])], marker=True
            ),
        ]
        if not any(x.points for x in series):
            continue
        lines.append("")
        lines.extend(
            chart(
                title,
                series,
                width=width,
                height=6,
                x_max=x_max,
                unicode=unicode,
                value_format=fmt,
                label_width=len("accuracy"),
            )
        )
    if not s.history.curves:
        lines.append("")
        lines.append("no metrics logged yet" if not s.metrics_error else "metrics unavailable")
    if s.metrics_error:
        lines.append(f"({s.metrics_error})")
    return lines


def plain_line(s: Snapshot) -> str:
    """One line for a log: what changed is visible by reading down the lines."""
    values = []
    for name in CURVES:
        point = s.history.latest(name)
        if point is not None:
            values.append(f"{SHORT_NAMES[name]}={point.value:.4f}")
    head = f"{s.ref} {s.state}" + (f" ({s.sub_state})" if s.sub_state else "")
    tail = f" [{s.metrics_error}]" if s.metrics_error else ""
    return " ".join([head, _progress_text(s), *values]) + tail


def _live(target: Target, read_history: Callable[[], History], args: argparse.Namespace, out: TextIO) -> int:
    tty = out.isatty()
    unicode = can_draw_unicode(out)
    shown_lines = 0
    last_plain = ""
    while True:
        snapshot = take(target, read_history)
        if tty:
            lines = frame(snapshot, args.width, unicode=unicode)
            if shown_lines:
                out.write(f"\x1b[{shown_lines}F\x1b[J")
            stamp = datetime.now(UTC).strftime("%H:%M:%S")
            lines.append(f"(refreshed {stamp}; Ctrl-C stops watching, the job goes on)")
            out.write("\n".join(lines) + "\n")
            shown_lines = len(lines)
        else:
            line = plain_line(snapshot)
            if line != last_plain:
                out.write(line + "\n")
                last_plain = line
        out.flush()
        if snapshot.finished:
            return 0 if snapshot.state in SUCCESS_STATES else 1
        time.sleep(args.interval)
        target.refresh()
