"""`python -m bench`: run the benchmarks against a local control plane and the emulator; write RESULTS.md.

    python -m bench                      # everything, default sizes, 3 runs each
    python -m bench --only burst,restart # some of them
    python -m bench --quick              # small sizes, one run: what CI runs so the code cannot rot
    python -m bench --burst-jobs 1000    # sizes are flags

Each scenario starts its own emulator and operator in a fresh namespace of one shared control plane, so
scenarios do not see each other's objects. The operator runs as a separate process under the ServiceAccount
and RBAC it is installed with, exactly as in the end-to-end tests.
"""

from __future__ import annotations

import argparse
import platform
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import burst, cpu, memory, polling, preflight, restart, running
from bench.env import BenchEnv
from bench.figures import RunResult
from bench.procstat import machine
from bench.report import Report, write_report
from controller.testenv.controlplane import ControlPlane
from controller.testenv.tools import resolve_tools

SCENARIOS = ("burst", "polling", "memory", "running", "restart", "cpu", "preflight")
HERE = Path(__file__).resolve().parent


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help=f"comma-separated subset of {', '.join(SCENARIOS)}")
    p.add_argument("--quick", action="store_true", help="small sizes and one run (CI); sizes given win")
    p.add_argument("--repeat", type=int, default=None, help="runs per scenario; figures are medians (3)")
    p.add_argument(
        "--repeat-of",
        action="append",
        default=[],
        metavar="SCENARIO=N",
        help="runs for one scenario, overriding --repeat (repeatable), e.g. polling=1",
    )
    p.add_argument("--output", type=Path, default=HERE, help="directory for RESULTS.md and the charts")
    p.add_argument("--note", default="", help="a sentence for the header, e.g. what else ran meanwhile")
    p.add_argument("--threads", type=int, default=8, help="client threads that apply objects (8)")
    sizes = p.add_argument_group("sizes")
    sizes.add_argument("--burst-jobs", type=int, help="TuningJobs applied at once (500; quick 20)")
    p.add_argument(
        "--burst-workers", type=int, default=None, help="the operator's --workers in the burst (its default)"
    )
    sizes.add_argument("--poll-jobs", type=int, help="jobs followed for a simulated hour (200; quick 10)")
    sizes.add_argument(
        "--poll-flat-jobs",
        type=int,
        help="jobs of the polling run that shows the cost per job stays flat (1000; quick 20)",
    )
    sizes.add_argument("--poll-locations", type=int, help="locations those jobs are spread over (2)")
    sizes.add_argument("--poll-time-scale", type=float, help="simulated s per real s (60; quick 1200)")
    sizes.add_argument("--memory-objects", type=int, help="TuningJobs in the cache (10000; quick 200)")
    sizes.add_argument(
        "--running-jobs", type=int, help="running TuningJobs the operator follows (10000; quick 50)"
    )
    sizes.add_argument("--restart-jobs", type=int, help="running jobs across the restart (1000; quick 20)")
    sizes.add_argument("--cpu-jobs", type=int, help="jobs taken from apply to Ready (100; quick 10)")
    sizes.add_argument(
        "--cpu-job-seconds", type=float, help="real seconds each of those jobs lasts (30; quick 6)"
    )
    sizes.add_argument(
        "--preflight-mb", type=int, help="MiB of JSONL the dataset preflight checks (1024; quick 16)"
    )
    return p


DEFAULTS = {
    "burst_jobs": (500, 20),
    "poll_jobs": (200, 10),
    "poll_flat_jobs": (1000, 20),
    "poll_locations": (2, 2),
    "poll_time_scale": (60.0, 1200.0),
    "memory_objects": (10_000, 200),
    "running_jobs": (10_000, 50),
    "restart_jobs": (1000, 20),
    "cpu_jobs": (100, 10),
    "cpu_job_seconds": (30.0, 6.0),
    "preflight_mb": (1024, 16),
    "repeat": (3, 1),
}


def resolve_sizes(args: argparse.Namespace) -> argparse.Namespace:
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
        if getattr(args, name) <= 0:
            flag = "--" + name.replace("_", "-")
            raise SystemExit(f"{flag}: must be greater than 0, got {getattr(args, name)}")
    return args


def repeats(args: argparse.Namespace) -> dict[str, int]:
    counts = dict.fromkeys(SCENARIOS, args.repeat)
    for item in args.repeat_of:
        scenario, sep, number = item.partition("=")
        if not sep or scenario not in SCENARIOS or not number.isdigit() or int(number) < 1:
            raise SystemExit(
                f"--repeat-of: expected SCENARIO=N with N >= 1 and SCENARIO in {SCENARIOS}, got {item!r}"
            )
        counts[scenario] = int(number)
    return counts


def selected(args: argparse.Namespace) -> list[str]:
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        raise SystemExit(f"--only: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    return chosen


def runners(args: argparse.Namespace, env: BenchEnv, workdir: Path) -> dict[str, Callable[[], RunResult]]:
    return {
        "burst": lambda: burst.run(env, args.burst_jobs, workdir, workers=args.burst_workers),
        "polling": lambda: polling.run(
            env,
            args.poll_jobs,
            args.poll_locations,
            args.poll_time_scale,
            workdir,
            flat_jobs=args.poll_flat_jobs,
        ),
        "memory": lambda: memory.run(env, args.memory_objects, workdir),
        "running": lambda: running.run(env, args.running_jobs, workdir),
        "restart": lambda: restart.run(env, args.restart_jobs, workdir),
        "cpu": lambda: cpu.run(
            env,
            args.cpu_jobs,
            workdir,
            job_seconds=args.cpu_job_seconds,
            poll_min_seconds=args.cpu_job_seconds / 2,
        ),
        "preflight": lambda: preflight.run(env, args.preflight_mb, workdir),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = resolve_sizes(parser().parse_args(argv))
    # SIGTERM (from CI or `timeout`) unwinds like Ctrl-C, so the control plane and operators are stopped.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    chosen = selected(args)
    runs_of = repeats(args)
    args.output.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    results: dict[str, list[RunResult]] = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vertexops-bench-") as tmp:
        workdir = Path(tmp)
        _say(f"starting a control plane (work files in {workdir})")
        with ControlPlane(tools=resolve_tools(install=True)) as control_plane:
            env = BenchEnv(control_plane, workdir, threads=args.threads)
            facts = {**machine(), "python": platform.python_version(), "kubernetes": env.kubernetes_version()}
            run_one = runners(args, env, workdir)
            try:
                for scenario in chosen:
                    results[scenario] = []
                    for index in range(runs_of[scenario]):
                        _say(f"{scenario}: run {index + 1} of {runs_of[scenario]}")
                        begun = time.monotonic()
                        try:
                            results[scenario].append(run_one[scenario]())
                        except Exception as err:  # one failed run must not cost the others' results
                            failures.append(f"{scenario} run {index + 1}: {type(err).__name__}: {err}")
                            _say(f"{scenario}: run {index + 1} FAILED\n{traceback.format_exc()}")
                        finally:
                            env.stop_operators()
                        _say(f"{scenario}: run {index + 1} took {time.monotonic() - begun:.0f}s")
                    # Written after every scenario, so an interrupted run still leaves what it measured.
                    _write(
                        args,
                        started=started,
                        facts=facts,
                        runs_of=runs_of,
                        chosen=chosen,
                        results=results,
                        failures=failures,
                    )
            finally:
                memory.cleanup()
    path = _write(
        args, started=started, facts=facts, runs_of=runs_of, chosen=chosen, results=results, failures=failures
    )
    _say(f"wrote {path}")
    return 1 if failures else 0


def _write(
    args: argparse.Namespace,
    *,
    started: datetime,
    facts: dict[str, str],
    runs_of: dict[str, int],
    chosen: list[str],
    results: dict[str, list[RunResult]],
    failures: list[str],
) -> Path:
    report = Report(
        started=started,
        finished=datetime.now(UTC),
        machine=facts,
        args={k: v for k, v in vars(args).items() if k not in ("output", "only", "note", "repeat_of")}
        | {f"repeat[{s}]": n for s, n in runs_of.items() if n != args.repeat and s in chosen},
        note=args.note,
        quick=args.quick,
        results={s: r for s, r in results.items() if r},
        failures=failures,
    )
    return write_report(report, args.output)


def _say(text: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {text}", file=sys.stderr, flush=True)
