"""Memory: the operator's resident set with 10,000 TuningJobs in its cache, against the same operator idle.

Most objects are finished jobs, created with the finalizer and a complete finished status written through
the status subresource, as an operator that ran for months would find them; one in twenty is new, so the
operator also creates and follows that many running jobs. The finished status is copied from a job this
operator really took to Ready, so the first pass of reconciles finds nothing to write for them.

Creating 10,000 objects takes minutes, so the namespace is prepared once and every run starts a fresh
operator process against it; the idle figure comes from a fresh operator watching an empty namespace.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from bench.emulator_process import EmulatorProcess
from bench.env import FINALIZER, TUNINGJOBS, BenchEnv, StateWatcher, operator_pid, tuning_job, wait_settled
from bench.figures import RunResult
from bench.procstat import rss_bytes
from bench.ready_status import idle_rss, ready_status

RUNNING_SHARE = 20  # one object in this many is a new job that the operator creates and follows
STEP_SECONDS = 60.0
TOTAL_STEPS = 1000


@dataclass
class _Prepared:
    objects: int
    namespace: str
    running: int
    emulator: EmulatorProcess


_prepared: dict[int, _Prepared] = {}


def run(env: BenchEnv, objects: int, workdir: Path) -> RunResult:
    result = RunResult("memory")
    if objects not in _prepared:
        _prepared[objects] = _prepare(env, objects, workdir)
    prepared = _prepared[objects]

    idle = idle_rss(env, prepared.emulator.url, "idle")

    started = time.monotonic()
    operator = env.start_operator(prepared.namespace, prepared.emulator.url, label="memory")
    synced = time.monotonic() - started
    with StateWatcher(env, prepared.namespace) as watcher:
        watcher.wait(lambda s: s != "", objects, 900, "objects with a state")
    wait_settled(operator, quiet_seconds=5, polling=True)
    loaded = rss_bytes(operator_pid(operator))
    operator.stop()

    result.add("idle_rss", "resident memory, idle (no objects)", "MiB", idle / 2**20)
    result.add(
        "loaded_rss",
        f"resident memory, {objects} TuningJobs cached",
        "MiB",
        loaded / 2**20,
        "target < 200 MiB at 10,000",
    )
    result.add(
        "bytes_per_object",
        "per cached object ((loaded - idle) / objects)",
        "bytes",
        (loaded - idle) / objects,
    )
    result.add("sync_seconds", f"start -> /readyz (cache synced) with {objects} objects", "s", synced)
    result.add("running", "of which running jobs the operator created and follows", "jobs", prepared.running)
    return result


def cleanup() -> None:
    for prepared in _prepared.values():
        prepared.emulator.stop()
    _prepared.clear()


def _prepare(env: BenchEnv, objects: int, workdir: Path) -> _Prepared:
    emulator = EmulatorProcess(
        workdir / "emulator-memory.log", pending_seconds=0, step_seconds=STEP_SECONDS, total_steps=TOTAL_STEPS
    ).start()
    namespace = env.new_namespace("memory")
    finished_status = ready_status(env, workdir, namespace)
    running = max(1, objects // RUNNING_SHARE)
    finished = objects - running - 1  # the template itself is one of the finished ones

    def create_finished(index: int) -> None:
        body = tuning_job(f"done-{index:05d}")
        body["metadata"]["finalizers"] = [FINALIZER]
        env.api().create(TUNINGJOBS.collection_path(namespace), body)
        env.patch_status(namespace, body["metadata"]["name"], finished_status)

    env.parallel(range(finished), create_finished)
    env.create_jobs(namespace, [tuning_job(f"run-{i:05d}") for i in range(running)])
    return _Prepared(objects, namespace, running, emulator)
