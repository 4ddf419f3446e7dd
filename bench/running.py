"""Memory with every job running: the operator's resident set while it follows 10,000 running TuningJobs.

The `memory` benchmark caches mostly finished jobs, which the operator only reads from status. Here every
object is a job the operator polls and reads metrics for, so the per-job state of the backends (the
location listings, the metrics series and readings) counts as much as the cache. Each object's status is
as large as a job's status gets: a finished job's full status (metrics, conditions, checkpoints, test
prompt answers) copied from a job this operator really took to Ready, with the state and the Vertex job
of a running one.

The Vertex jobs are created in the emulator directly (with the labels the operator gives its own), hours
in the past: the emulator's clock starts six hours back and is then moved to the present, so the jobs are
as old as in a cluster that has run for a while, and are polled at the intervals of such jobs rather than
those of jobs just started (which would ask for a reconcile of every job every 15 s).
"""

from __future__ import annotations

import copy
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.emulator_process import EmulatorProcess
from bench.env import FINALIZER, PROJECT, TUNINGJOBS, BenchEnv, operator_pid, tuning_job, wait_settled
from bench.figures import RunResult
from bench.procstat import rss_bytes
from bench.ready_status import idle_rss, ready_status
from controller.backends.vertex_poller import MANAGED_BY_LABEL, MANAGED_BY_VALUE, UID_LABEL

AGE_SECONDS = 6 * 3600.0  # how long ago the jobs started
STEP_SECONDS = 60.0
TOTAL_STEPS = 1000  # 1000 one-minute steps: running for hours after the measurement
LOCATION = "us-central1"
TEST_PROMPTS = [
    {"prompt": "Summarise the attached incident report in three sentences for the on-call channel."},
    {"prompt": "Classify this support ticket: 'the export button does nothing'.", "generationConfig": {}},
]


def run(env: BenchEnv, jobs: int, workdir: Path) -> RunResult:
    result = RunResult("running")
    with EmulatorProcess(
        workdir / "emulator-running.log",
        pending_seconds=0,
        step_seconds=STEP_SECONDS,
        total_steps=TOTAL_STEPS,
        clock_start=time.time() - AGE_SECONDS,
    ) as emulator:
        idle = idle_rss(env, emulator.url, "running-idle")
        namespace = env.new_namespace("running")
        template = ready_status(env, workdir, namespace, TEST_PROMPTS)
        _prepare(env, emulator, namespace, jobs, template)
        emulator.advance(time.time() - emulator.now())  # the jobs started AGE_SECONDS ago, as of now

        started = time.monotonic()
        operator = env.start_operator(namespace, emulator.url, label="running")
        synced = time.monotonic() - started
        try:
            emulator.clear_requests()
            since = time.time()
            _wait_metrics_read(env, namespace, jobs + 1, since, timeout=1200)
            first_pass = time.monotonic() - started
            wait_settled(operator, quiet_seconds=5, polling=True)
            loaded = rss_bytes(operator_pid(operator))
            calls = sum(emulator.counts().values())
            objects = [o for o in env.list_jobs(namespace) if o["metadata"]["name"] != "template"]
        finally:
            operator.stop()

    running = sum(1 for o in objects if (o.get("status") or {}).get("state") == "JOB_STATE_RUNNING")
    status_bytes = statistics.median(len(json.dumps(o.get("status") or {})) for o in objects)
    result.add("idle_rss", "resident memory, idle (no objects)", "MiB", idle / 2**20)
    result.add(
        "loaded_rss",
        f"resident memory, {jobs} running TuningJobs followed",
        "MiB",
        loaded / 2**20,
        "target < 200 MiB at 10,000",
    )
    result.add("bytes_per_job", "per running job ((loaded - idle) / jobs)", "bytes", (loaded - idle) / jobs)
    result.add("status_bytes", "status of one job, as JSON (median)", "bytes", status_bytes)
    result.add("running", "jobs RUNNING in status at the measurement", "jobs", running, f"= {jobs}")
    result.add("sync_seconds", f"start -> /readyz (cache synced) with {jobs + 1} objects", "s", synced)
    result.add("first_pass_seconds", "start -> every job's metrics read into status", "s", first_pass)
    result.add(
        "first_pass_calls",
        "Google calls per job, start -> every job's metrics in status",
        "calls",
        calls / jobs,
        "the one-time look-ups of each job's experiment and series, then shared reads",
    )
    return result


def _prepare(
    env: BenchEnv, emulator: EmulatorProcess, namespace: str, jobs: int, template: dict[str, Any]
) -> None:
    """`jobs` objects with the finalizer, each with a running Vertex job made as the operator makes one."""
    parent = f"projects/{PROJECT}/locations/{LOCATION}"
    _an_hour_ago = datetime.fromtimestamp(time.time() - 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def make(index: int) -> None:
        body = tuning_job(f"run-{index:05d}", location=LOCATION)
        body["spec"]["testPrompts"] = TEST_PROMPTS
        body["metadata"]["finalizers"] = [FINALIZER]
        created = env.api().create(TUNINGJOBS.collection_path(namespace), body)
        spec = body["spec"]
        hyper = spec["supervisedTuningSpec"]["hyperParameters"]
        job = emulator.create_job(
            parent,
            {
                "baseModel": spec["baseModel"],
                "tunedModelDisplayName": spec["tunedModelDisplayName"],
                "supervisedTuningSpec": {
                    **spec["supervisedTuningSpec"],
                    "hyperParameters": {**hyper, "epochCount": str(hyper["epochCount"])},
                },
                "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE, UID_LABEL: created["metadata"]["uid"]},
            },
        )
        status = copy.deepcopy(template)
        status.pop("endTime", None)
        # As a status written an hour ago: the first read of the operator is due for status at once.
        status["latestMetrics"]["readTime"] = _an_hour_ago
        status.update(
            state=job["state"],
            name=job["name"],
            createTime=job["createTime"],
            startTime=job.get("startTime"),
            experiment=job.get("experiment"),
        )
        env.patch_status(namespace, body["metadata"]["name"], status)

    env.parallel(range(jobs), make)


def _wait_metrics_read(env: BenchEnv, namespace: str, objects: int, since: float, timeout: float) -> None:
    """Until every object's status shows metrics read after `since` (the template's were read before)."""
    deadline = time.monotonic() + timeout
    while True:
        items = env.list_jobs(namespace)
        fresh = sum(1 for o in items if _read_after((o.get("status") or {}).get("latestMetrics"), since))
        if fresh >= objects - 1 and len(items) == objects:  # the template job is finished: read before
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{fresh} of {objects - 1} jobs had their metrics read within {timeout:.0f}s")
        time.sleep(5)


def _read_after(metrics: dict[str, Any] | None, since: float) -> bool:
    read = (metrics or {}).get("readTime")
    return bool(read) and datetime.fromisoformat(read).timestamp() >= since
