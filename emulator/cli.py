"""`vertexops emulator` / `python -m emulator`: serve the fake Google APIs until interrupted.

The first line on stdout is `emulator listening on http://127.0.0.1:PORT`, flushed, so a parent process can
start it with `--port 0` and read the port.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from emulator.config import EmulatorConfig
from emulator.faults import FaultRule
from emulator.server import Emulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = EmulatorConfig()
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument(
        "--time-scale", type=float, default=defaults.time_scale,
        help="simulated seconds per real second, e.g. 60 makes a 30-minute job take 30 s",
    )  # fmt: skip
    parser.add_argument(
        "--clock-start", type=float, default=None, metavar="UNIX_SECONDS",
        help="simulated time to start at (default: now); a time in the past, then an advance, makes old jobs",
    )  # fmt: skip
    parser.add_argument(
        "--wall-clock-timestamps", action="store_true",
        help="write timestamps as the real time each simulated instant maps to at --time-scale (benchmarks:"
        " a client's job ages then shrink by the scale, as its own intervals do)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random seed for ids and faults")
    parser.add_argument(
        "--pending-seconds",
        type=float,
        default=defaults.pending_seconds,
        help="simulated seconds a job is PENDING",
    )
    parser.add_argument(
        "--step-seconds",
        type=float,
        default=defaults.step_seconds,
        help="simulated seconds per training step",
    )
    parser.add_argument(
        "--total-steps", type=int, default=None, help="fix every job's step count (default: from its data)"
    )
    parser.add_argument(
        "--cancel-seconds",
        type=float,
        default=defaults.cancel_seconds,
        help="simulated seconds in CANCELLING",
    )
    parser.add_argument(
        "--gemini-step-seconds", type=float, default=defaults.gemini_step_seconds,
        help="simulated seconds per Gemini API tuning step",
    )  # fmt: skip
    parser.add_argument(
        "--project-number", action="append", default=[], metavar="PROJECT=NUMBER",
        help="project id to number mapping shown in resource names (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--no-auth", action="store_true", help="accept requests that carry no credential at all"
    )
    parser.add_argument(
        "--fault", action="append", default=[], metavar="JSON",
        help="a fault rule as JSON, e.g. "
        '\'{"kind": "status", "method": "tuningJobs.get", "status": 503, "times": 2}\'',
    )  # fmt: skip


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    numbers: dict[str, str] = {}
    for item in args.project_number:
        project, sep, number = item.partition("=")
        if not sep or not number.isdigit():
            raise ValueError(f"--project-number must be PROJECT=NUMBER with a numeric NUMBER, got {item!r}")
        numbers[project] = number
    return EmulatorConfig(
        time_scale=args.time_scale,
        clock_start=args.clock_start,
        seed=args.seed,
        pending_seconds=args.pending_seconds,
        step_seconds=args.step_seconds,
        total_steps=args.total_steps,
        cancel_seconds=args.cancel_seconds,
        gemini_step_seconds=args.gemini_step_seconds,
        project_numbers=numbers,
        require_auth=not args.no_auth,
        wall_clock_timestamps=args.wall_clock_timestamps,
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        faults = [FaultRule.from_json(json.loads(text)) for text in args.fault]
    except ValueError as error:
        print(f"emulator: {error}", file=sys.stderr)
        return 2
    emulator = Emulator(config, host=args.host, port=args.port)
    for fault in faults:
        emulator.state.faults.add(fault)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with emulator:
        print(f"emulator listening on {emulator.url}", flush=True)
        stop.wait()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args())
