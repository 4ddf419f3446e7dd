"""CPU: operator CPU seconds (utime + stime from /proc) per job lifecycle, apply -> Ready.

Real time, not a scaled clock: each job is pending for a quarter of `job_seconds` and runs for the rest,
and the operator runs with its default intervals (or `poll_min_seconds` for short jobs), so every poll,
metrics read and status write is one a real job of that length would cost. A scaled clock would put job
end times in the operator's future and distort exactly the end of the lifecycle this measures. The steady
cost of a job that runs for hours is the polling benchmark's CPU per job-hour; the two add up.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.emulator_process import EmulatorProcess
from bench.env import BenchEnv, StateWatcher, operator_pid, tuning_job, wait_settled
from bench.figures import RunResult
from bench.procstat import cpu_seconds


def run(
    env: BenchEnv,
    jobs: int,
    workdir: Path,
    *,
    job_seconds: float = 30.0,
    poll_min_seconds: float = 15.0,
    timeout: float = 900.0,
) -> RunResult:
    result = RunResult("cpu")
    steps = max(1, round(job_seconds * 3 / 4))
    with EmulatorProcess(
        workdir / "emulator-cpu.log",
        pending_seconds=job_seconds / 4,
        step_seconds=job_seconds * 3 / 4 / steps,
        total_steps=steps,
    ) as emulator:
        namespace = env.new_namespace("cpu")
        operator = env.start_operator(
            namespace, emulator.url, [f"--poll-min-seconds={poll_min_seconds}"], label="cpu"
        )
        try:
            wait_settled(operator)
            pid = operator_pid(operator)
            quiet = min(job_seconds / 2, 15.0)
            idle_before = cpu_seconds(pid)
            time.sleep(quiet)
            idle_rate = (cpu_seconds(pid) - idle_before) / quiet
            with StateWatcher(env, namespace) as watcher:
                before = cpu_seconds(pid)
                started = time.monotonic()
                env.create_jobs(namespace, [tuning_job(f"cpu-{i:05d}") for i in range(jobs)])
                watcher.wait_ready(jobs, timeout)
                busy = cpu_seconds(pid) - before
                span = time.monotonic() - started
            after_before = cpu_seconds(pid)
            time.sleep(quiet)
            after_rate = (cpu_seconds(pid) - after_before) / quiet
        finally:
            operator.stop()
    result.add(
        "cpu_per_job", f"CPU seconds per job, apply -> Ready ({job_seconds:g} s jobs)", "s", busy / jobs
    )
    result.add(
        "cpu_per_job_net",
        "the same, less the idle process's own use over the span",
        "s",
        (busy - idle_rate * span) / jobs,
    )
    result.add("cpu_total", f"{jobs} jobs: operator CPU seconds, apply -> all Ready", "s", busy)
    result.add("span", f"{jobs} jobs: apply -> all Ready", "s", span)
    result.add("idle_cpu_share", "before, no objects: CPU use", "% of a core", 100 * idle_rate)
    result.add("finished_cpu_share", "after, all jobs finished: CPU use", "% of a core", 100 * after_rate)
    result.notes.append(
        f"CPU: jobs {job_seconds / 4:g} s pending + {job_seconds * 3 / 4:g} s running, real time; "
        f"operator --poll-min-seconds={poll_min_seconds:g}, other intervals default"
    )
    return result
