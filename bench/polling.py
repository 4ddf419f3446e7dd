"""Polling cost: running jobs followed for simulated hours, against a get-per-job-per-minute baseline.

The emulator runs `scale` times faster than real time and the operator's intervals are divided by the same
factor, so the operator behaves as over real hours. The emulator writes its timestamps on the wall clock,
so the operator also sees each job age at that rate and lengthens its poll and metrics intervals as it would
(without that, every job would look brand new for ever). Google calls come from the emulator's request log;
API-server writes from the kube-apiserver's own `apiserver_request_total`.

The jobs' first hour carries what a job costs once (finding its experiment and series); the third hour is
what a running job costs from then on. The same first hour with half the jobs, with one location, and with
`flat_jobs` jobs shows what the calls grow with.

The baseline is a plain loop in this process: every simulated minute, one `tuningJobs.get` per job. Its
call count does not depend on how fast it runs, so it runs at ten times the scale to save time.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.emulator_process import EmulatorProcess
from bench.env import BenchEnv, StateWatcher, operator_metric, operator_pid, tuning_job
from bench.figures import RunResult
from bench.procstat import cpu_seconds
from controller.testenv.operator import OperatorProcess

LOCATIONS = ("us-central1", "europe-west4", "us-east4", "asia-northeast1", "europe-west1", "us-west1")
SIM_HOUR = 3600.0
STATE_METHODS = ("tuningJobs.list", "tuningJobs.get")


@dataclass(frozen=True)
class Measured:
    """One simulated hour of the jobs' lives."""

    jobs: int
    locations: int
    google: Counter[str]
    writes: Counter[str]
    reconciles: float
    cpu_seconds: float
    queue_wait_seconds: float  # mean real time a due key waited for a worker during the window
    baseline_calls: int


LIFE_HOURS = 4  # the hours of the jobs' lives measured; the last one is what a job costs "from then on"


def run(
    env: BenchEnv, jobs: int, locations: int, scale: float, workdir: Path, *, flat_jobs: int = 0
) -> RunResult:
    if not 1 <= locations <= len(LOCATIONS):
        raise ValueError(f"--poll-locations must be between 1 and {len(LOCATIONS)}, got {locations}")
    result = RunResult("polling")
    hours = _measure(
        env, jobs, locations, scale, workdir, hours=tuple(range(1, LIFE_HOURS + 1)), with_baseline=True
    )
    main = hours[0]
    (half,) = _measure(env, max(1, jobs // 2), locations, scale, workdir)
    single = _measure(env, jobs, 1, scale, workdir)[0] if locations > 1 else None
    # Many more jobs at a quarter of the speed, so the operator's workers keep up as they would in real time.
    flat = _measure(env, flat_jobs, locations, scale / 4, workdir)[0] if flat_jobs else None

    op_total = sum(main.google.values())
    op_state = sum(main.google[m] for m in STATE_METHODS)
    per_job_hour = jobs  # the window is one simulated hour
    result.add(
        "google_calls",
        f"{jobs} jobs, {locations} locations: Google calls per job-hour, the jobs' first hour",
        "calls",
        op_total / per_job_hour,
        "; ".join(f"{method} {count / per_job_hour:.2g}" for method, count in sorted(main.google.items())),
    )
    result.add(
        "state_calls", "of which job-state calls (tuningJobs.list/get)", "calls", op_state / per_job_hour
    )
    result.add(
        "metrics_calls",
        "of which training-metrics calls",
        "calls",
        (op_total - op_state) / per_job_hour,
    )
    result.add(
        "baseline_calls",
        "baseline: one tuningJobs.get per job per minute",
        "calls",
        main.baseline_calls / per_job_hour,
    )
    result.add(
        "ratio_state",
        "baseline / operator, job-state calls",
        "x",
        main.baseline_calls / max(op_state, 1),
        "target >= 20x",
    )
    result.add(
        "ratio_all",
        "baseline / operator, all calls (metrics included)",
        "x",
        main.baseline_calls / max(op_total, 1),
        "the baseline reads no metrics",
    )
    result.add(
        "list_calls_per_location_hour",
        "tuningJobs.list per location-hour",
        "calls",
        main.google["tuningJobs.list"] / locations,
        "one list per poll interval",
    )
    status_writes = main.writes["tuningjobs/status PATCH"]
    result.add("status_writes", "API-server status patches per job-hour", "writes", status_writes / jobs)
    result.add(
        "all_writes",
        "API-server writes per job-hour (status, events, ...), first hour",
        "writes",
        sum(main.writes.values()) / jobs,
    )
    result.add("reconciles", "reconciles per job-hour", "reconciles", main.reconciles / jobs)
    result.add(
        "queue_wait_sim",
        "mean wait of a due job for a worker, in simulated seconds",
        "s",
        main.queue_wait_seconds * scale,
        "the operator kept up if this is well under 15 s",
    )
    result.add("cpu_per_job_hour", "operator CPU seconds per job-hour", "s", main.cpu_seconds / jobs)
    result.add(
        "state_calls_half",
        f"{half.jobs} jobs, {locations} locations: job-state calls per hour",
        "calls",
        sum(half.google[m] for m in STATE_METHODS),
    )
    result.add(
        "state_calls_full", f"{jobs} jobs, {locations} locations: job-state calls per hour", "calls", op_state
    )
    result.add(
        "growth_jobs",
        f"job-state calls, {jobs} jobs / {half.jobs} jobs",
        "x",
        op_state / max(1, sum(half.google[m] for m in STATE_METHODS)),
        "~1 when calls follow locations, 2 when they follow jobs",
    )
    if single is not None:
        single_state = sum(single.google[m] for m in STATE_METHODS)
        result.add(
            "state_calls_single", f"{jobs} jobs, 1 location: job-state calls per hour", "calls", single_state
        )
        result.add(
            "growth_locations",
            f"job-state calls, {locations} locations / 1 location",
            "x",
            op_state / max(1, single_state),
            f"~{locations} when calls follow locations",
        )
    _later_rows(result, hours, main.baseline_calls / jobs)
    if flat is not None:
        _flat_rows(result, main, flat, scale / 4)
    result.samples["operator calls per job-hour"] = [op_total / jobs]
    result.samples["operator job-state calls per job-hour"] = [op_state / jobs]
    result.samples["baseline calls per job-hour"] = [main.baseline_calls / jobs]
    result.notes.append(
        "Polling: the emulator writes its timestamps on the wall clock (`--wall-clock-timestamps`), so the "
        "operator sees each job age at the simulated rate and lengthens its intervals as in real hours (job "
        f"state: a tenth of the job's age; metrics: a fifth). The first hour includes each job's one-time "
        f"look-ups (its experiment, run and series); hour {LIFE_HOURS} is what a running job costs from then "
        "on"
    )
    result.notes.append(
        f"time scale {scale:g}: one simulated hour took {SIM_HOUR / scale:.0f} s; operator flags "
        f"--poll-min-seconds={15 / scale:g} --poll-max-seconds={300 / scale:g} "
        f"--metrics-interval-seconds={120 / scale:g} --metrics-status-seconds={600 / scale:g} "
        f"--resync-seconds={600 / scale:g}"
    )
    return result


def _later_rows(result: RunResult, hours: list[Measured], baseline_per_job_hour: float) -> None:
    """Hour `LIFE_HOURS` of the jobs' lives alone, and the mean over all hours measured."""
    later = hours[-1]
    total = sum(later.google.values()) / later.jobs
    result.add(
        "later_google_calls",
        f"{later.jobs} jobs, {later.locations} locations: Google calls per job-hour, hour {LIFE_HOURS}",
        "calls",
        total,
        "target <= 6; "
        + "; ".join(f"{method} {count / later.jobs:.2g}" for method, count in sorted(later.google.items())),
    )
    result.add(
        "later_ratio_all",
        f"baseline / operator, all calls (metrics included), hour {LIFE_HOURS}",
        "x",
        baseline_per_job_hour / max(total, 1e-9),
        "target >= 10x",
    )
    result.add(
        "later_status_writes",
        f"API-server status patches per job-hour, hour {LIFE_HOURS}",
        "writes",
        later.writes["tuningjobs/status PATCH"] / later.jobs,
    )
    result.add(
        "later_all_writes",
        f"API-server writes per job-hour (status, events, ...), hour {LIFE_HOURS}",
        "writes",
        sum(later.writes.values()) / later.jobs,
        "target <= 6",
    )
    life_calls = sum(sum(h.google.values()) for h in hours) / (later.jobs * len(hours))
    result.add(
        "life_google_calls",
        f"Google calls per job-hour over the jobs' first {len(hours)} hours",
        "calls",
        life_calls,
        f"target <= 6; baseline / operator {baseline_per_job_hour / max(life_calls, 1e-9):.3g}x",
    )
    result.add(
        "life_all_writes",
        f"API-server writes per job-hour over the jobs' first {len(hours)} hours",
        "writes",
        sum(sum(h.writes.values()) for h in hours) / (later.jobs * len(hours)),
        "target <= 6",
    )


def _flat_rows(result: RunResult, main: Measured, flat: Measured, flat_scale: float) -> None:
    main_calls = sum(main.google.values()) / main.jobs
    flat_calls = sum(flat.google.values()) / flat.jobs
    main_writes = sum(main.writes.values()) / main.jobs
    flat_writes = sum(flat.writes.values()) / flat.jobs
    where = f"{flat.jobs} jobs, {flat.locations} locations"
    result.add(
        "flat_google_calls",
        f"{where}: Google calls per job-hour, first hour",
        "calls",
        flat_calls,
        "; ".join(f"{method} {count / flat.jobs:.2g}" for method, count in sorted(flat.google.items())),
    )
    result.add(
        "flat_all_writes", f"{where}: API-server writes per job-hour, first hour", "writes", flat_writes
    )
    result.add(
        "flat_calls_ratio",
        f"Google calls per job-hour, {flat.jobs} jobs / {main.jobs} jobs",
        "x",
        flat_calls / max(main_calls, 1e-9),
        "~1 when the cost per job stays flat",
    )
    result.add(
        "flat_writes_ratio",
        f"API-server writes per job-hour, {flat.jobs} jobs / {main.jobs} jobs",
        "x",
        flat_writes / max(main_writes, 1e-9),
        "~1 when the cost per job stays flat",
    )
    result.add(
        "flat_queue_wait_sim",
        f"{where}: mean wait of a due job for a worker, in simulated seconds",
        "s",
        flat.queue_wait_seconds * flat_scale,
        f"time scale {flat_scale:g}; the operator kept up if this is well under 15 s",
    )


def _measure(
    env: BenchEnv,
    jobs: int,
    locations: int,
    scale: float,
    workdir: Path,
    *,
    hours: tuple[int, ...] = (1,),
    with_baseline: bool = False,
) -> list[Measured]:
    """The given hours (1 = the first) of `jobs` running jobs' lives, counted from when all of them run."""
    where = LOCATIONS[:locations]
    with EmulatorProcess(
        workdir / f"emulator-poll-{jobs}-{locations}.log",
        time_scale=scale,
        pending_seconds=0,
        step_seconds=60,  # 1000 steps of a minute: every job runs for all the hours measured and beyond
        wall_clock_timestamps=True,
    ) as emulator:
        namespace = env.new_namespace("poll")
        flags = [
            f"--poll-min-seconds={15 / scale}",
            f"--poll-max-seconds={300 / scale}",
            f"--metrics-interval-seconds={120 / scale}",
            f"--metrics-status-seconds={600 / scale}",
            f"--resync-seconds={600 / scale}",
        ]
        operator = env.start_operator(namespace, emulator.url, flags, label="poll")
        try:
            bodies = [tuning_job(f"poll-{i:05d}", location=where[i % locations]) for i in range(jobs)]
            with StateWatcher(env, namespace) as watcher:
                env.create_jobs(namespace, bodies)
                watcher.wait(lambda s: s == "JOB_STATE_RUNNING", jobs, 600, "jobs RUNNING")
            start = time.monotonic()
            windows = []
            for hour in hours:
                time.sleep(max(0.0, start + (hour - 1) * SIM_HOUR / scale - time.monotonic()))
                windows.append(_window(env, emulator, operator, scale))
        finally:
            operator.stop()
        baseline = 0
        if with_baseline:
            names = [obj["status"]["name"] for obj in env.list_jobs(namespace)]
            baseline = _baseline(emulator, names, scale * 10)
    return [
        Measured(jobs, locations, google, writes, reconciles, cpu, wait, baseline)
        for google, writes, reconciles, cpu, wait in windows
    ]


def _window(
    env: BenchEnv, emulator: EmulatorProcess, operator: OperatorProcess, scale: float
) -> tuple[Counter[str], Counter[str], float, float, float]:
    """Google calls, API-server writes, reconciles, CPU seconds and mean queue wait over a simulated hour."""
    emulator.clear_requests()
    writes_before = env.apiserver_writes()
    reconciles_before = operator_metric(operator, "vertexops_reconcile_total")
    cpu_before = cpu_seconds(operator_pid(operator))
    wait_before = _queue_wait(operator)
    time.sleep(SIM_HOUR / scale)
    cpu = cpu_seconds(operator_pid(operator)) - cpu_before
    wait_after = _queue_wait(operator)
    waits = wait_after[1] - wait_before[1]
    queue_wait = (wait_after[0] - wait_before[0]) / waits if waits else 0.0
    google = emulator.counts()
    writes = env.apiserver_writes() - writes_before
    reconciles = operator_metric(operator, "vertexops_reconcile_total") - reconciles_before
    return google, writes, reconciles, cpu, queue_wait


def _queue_wait(operator: OperatorProcess) -> tuple[float, float]:
    """(sum, count) of the operator's work-queue wait histogram."""
    return (
        operator_metric(operator, "vertexops_workqueue_queue_duration_seconds_sum"),
        operator_metric(operator, "vertexops_workqueue_queue_duration_seconds_count"),
    )


def _baseline(emulator: EmulatorProcess, names: list[str], scale: float) -> int:
    """One `tuningJobs.get` per job at the start of every simulated minute, for a simulated hour."""
    emulator.set_time_scale(scale)
    before = emulator.counts()["tuningJobs.get"]
    start = emulator.now()
    calls = 0
    for minute in range(60):
        for name in names:
            emulator.get_job(name)
            calls += 1
        wait = (start + (minute + 1) * 60 - emulator.now()) / scale
        if wait > 0:
            time.sleep(wait)
    served = emulator.counts()["tuningJobs.get"] - before
    if served != calls:
        raise RuntimeError(f"baseline: sent {calls} gets but the emulator logged {served}")
    return calls
