"""Restart: the operator killed (SIGKILL) with N running jobs, every job finishing while it is down.

Measures, from the start of the new process, the time to /readyz and the time until every resource's
status shows the state Vertex reports now (FAILED: the emulator fails every job while no operator runs).

The jobs are failed rather than fast-forwarded to success on purpose: moving the emulator's clock ahead of
the wall clock would give them end times in the operator's future, which is not what a restart looks like.

The operator is also killed once while it is still creating the jobs, so the create-exactly-once protocol
is exercised; the duplicate count (jobs carrying the same resource UID label, from the emulator) must be 0.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from bench.emulator_process import EmulatorProcess
from bench.env import PROJECT, BenchEnv, StateWatcher, tuning_job
from bench.figures import RunResult

STEP_SECONDS = 1.0  # a failure asked for lands at the next step, so within a second
TOTAL_STEPS = 1_000_000
RUNNING = "JOB_STATE_RUNNING"
FAILED = "JOB_STATE_FAILED"
LOCATION = "us-central1"
# Short enough that jobs whose create was cut off by the first kill are retried within the run; the
# emulator lists a job the moment it exists, so a shorter grace cannot cause a duplicate here.
FLAGS = ("--create-grace-seconds=5",)


def run(env: BenchEnv, jobs: int, workdir: Path, timeout: float = 900.0) -> RunResult:
    result = RunResult("restart")
    with EmulatorProcess(
        workdir / "emulator-restart.log",
        pending_seconds=0,
        step_seconds=STEP_SECONDS,
        total_steps=TOTAL_STEPS,
    ) as emulator:
        namespace = env.new_namespace("restart")
        with StateWatcher(env, namespace) as watcher:
            first = env.start_operator(namespace, emulator.url, FLAGS, label="restart-a")
            env.create_jobs(namespace, [tuning_job(f"restart-{i:05d}") for i in range(jobs)])
            watcher.wait(lambda s: s == RUNNING, max(1, jobs // 2), timeout, "half the jobs RUNNING")
            first.kill()  # in the middle of creating: some creates are in flight or only intended
            second = env.start_operator(namespace, emulator.url, FLAGS, label="restart-b")
            watcher.wait(lambda s: s == RUNNING, jobs, timeout, "every job RUNNING")
            second.kill()

            # Every job ends while no operator runs.
            names = [obj["status"]["name"] for obj in env.list_jobs(namespace)]
            env.parallel(names, emulator.fail_job)
            time.sleep(2 * STEP_SECONDS)
            started = time.monotonic()
            third = env.start_operator(namespace, emulator.url, FLAGS, label="restart-c")
            ready = time.monotonic() - started
            watcher.wait(lambda s: s == FAILED, jobs, timeout, "every status FAILED after restart")
            fresh = time.monotonic() - started
            third.stop()
        remote = emulator.list_jobs(PROJECT, LOCATION)
        creates = emulator.counts()["tuningJobs.create"]
        # The first kill lands while jobs are being created: a create call cut off before Vertex handled it
        # is rightly sent again, so every create request is not the measure; every accepted one is.
        accepted = emulator.accepted("tuningJobs.create")
    per_uid = Counter(job["labels"]["vertexops-uid"] for job in remote)
    result.add(
        "fresh_seconds",
        f"{jobs} jobs: restart -> every status fresh",
        "s",
        fresh,
        "target <= 30 s at 1,000 jobs",
    )
    result.add("ready_seconds", "restart -> /readyz (cache synced)", "s", ready)
    result.add("create_calls", "Vertex create requests over both restarts", "calls", creates, f">= {jobs}")
    result.add("accepted_creates", "Vertex create calls that created a job", "calls", accepted, f"= {jobs}")
    result.add(
        "duplicates",
        "duplicate creates (jobs sharing a resource UID)",
        "jobs",
        sum(n - 1 for n in per_uid.values()),
        "must be 0",
    )
    result.add("jobs_found", "Vertex jobs carrying a resource UID", "jobs", len(per_uid), f"= {jobs}")
    return result
