"""Burst latency: N TuningJobs applied at once, against the bare client creating N objects and their status.

Per resource it measures apply -> Vertex create call (the emulator's creation time of the job carrying the
resource's UID label) and apply -> `status.state` RUNNING (first seen by a watch). The floor is what the
API server alone costs: the same thread pool creating N objects of the same CRD and patching each one's
status once, with no operator in the loop. The ratio of the two totals is the operator's overhead.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.emulator_process import EmulatorProcess
from bench.env import PROJECT, TUNINGJOBS, BenchEnv, StateWatcher, operator_pid, tuning_job
from bench.figures import RunResult
from bench.procstat import cpu_seconds
from bench.stats import percentile

RUNNING = "JOB_STATE_RUNNING"
LOCATION = "us-central1"


def run(
    env: BenchEnv, jobs: int, workdir: Path, workers: int | None = None, timeout: float = 900.0
) -> RunResult:
    result = RunResult("burst")
    before = env.apiserver_requests()
    server_cpu_before = _server_cpu(env)
    floor_total = _floor(env, jobs)
    floor_server_cpu = _server_cpu(env) - server_cpu_before
    floor_requests = _our_requests(env.apiserver_requests() - before)
    # Scale 1 and no PENDING phase: the emulator's clock is the wall clock and a job runs at once, so the
    # measurement is of the operator and the API server, not of simulated Vertex queues.
    with EmulatorProcess(workdir / "emulator-burst.log", pending_seconds=0, step_seconds=60) as emulator:
        namespace = env.new_namespace("burst")
        args = [f"--workers={workers}"] if workers else []
        operator = env.start_operator(namespace, emulator.url, args, label="burst")
        try:
            bodies = [tuning_job(f"burst-{i:05d}") for i in range(jobs)]
            with StateWatcher(env, namespace) as watcher:
                requests_before = env.apiserver_requests()
                cpu_before = cpu_seconds(operator_pid(operator))
                server_cpu_before = _server_cpu(env)
                started = time.time()
                applied = env.create_jobs(namespace, bodies)
                watcher.wait(lambda s: s == RUNNING, jobs, timeout, "TuningJobs RUNNING")
                running = {name: watcher.first_seen(name, RUNNING) for name in applied}
                cpu = cpu_seconds(operator_pid(operator)) - cpu_before
                server_cpu = _server_cpu(env) - server_cpu_before
                requests = _our_requests(env.apiserver_requests() - requests_before)
            clock_offset = emulator.now() - time.time()  # ~0 at scale 1; corrects any start-up skew
            google_calls = emulator.counts()  # before our own listing below
            remote = emulator.list_jobs(PROJECT, LOCATION)
        finally:
            operator.stop()
    uids = {obj["metadata"]["uid"]: obj["metadata"]["name"] for obj in env.list_jobs(namespace)}
    creates_per_uid = Counter(job["labels"]["vertexops-uid"] for job in remote)
    created_at = {
        uids[job["labels"]["vertexops-uid"]]: _unix(job["createTime"]) - clock_offset for job in remote
    }
    to_create = [created_at[name] - applied[name] for name in applied]
    to_running = [float(running[name] or 0.0) - applied[name] for name in applied]
    operator_total = max(float(t or 0.0) for t in running.values()) - started

    result.samples["apply to create call (s)"] = to_create
    result.samples["apply to RUNNING (s)"] = to_running
    for label, values in (("create call", to_create), ("RUNNING", to_running)):
        key = "create" if label == "create call" else "running"
        for q in (50, 95, 99):
            result.add(f"{key}_p{q}", f"apply -> {label}, p{q}", "s", percentile(values, q))
    result.add("operator_total", f"{jobs} jobs: first apply -> last RUNNING", "s", operator_total)
    result.add("floor_total", f"floor: bare client, {jobs} creates + {jobs} status patches", "s", floor_total)
    result.add("ratio", "operator total / floor", "x", operator_total / floor_total, "target <= 2x the floor")
    result.add(
        "requests_per_job",
        "API-server requests per resource, apply + operator",
        "requests",
        sum(requests.values()) / jobs,
        "; ".join(f"{k} {v / jobs:.2g}" for k, v in sorted(requests.items())),
    )
    result.add(
        "floor_requests_per_job",
        "API-server requests per resource, floor",
        "requests",
        sum(floor_requests.values()) / jobs,
    )
    result.add("cpu_per_job", "operator CPU seconds per job, apply -> RUNNING", "s", cpu / jobs)
    result.add("server_cpu", "kube-apiserver + etcd CPU seconds, operator run", "s", server_cpu)
    result.add("floor_server_cpu", "kube-apiserver + etcd CPU seconds, floor", "s", floor_server_cpu)
    result.add("creates", "Vertex create calls", "calls", len(remote), f"= {jobs} resources")
    # The look-up for a job to adopt (UID, then identity label) is answered from the per-location listing,
    # so it costs a handful of lists for the whole burst, not a call per resource.
    lookups = google_calls.get("tuningJobs.list", 0) + google_calls.get("tuningJobs.get", 0)
    result.add(
        "google_calls_per_job",
        "Google calls per created resource, apply -> RUNNING",
        "calls",
        sum(google_calls.values()) / jobs,
        "; ".join(f"{k} {v / jobs:.2g}" for k, v in sorted(google_calls.items())),
    )
    result.add("lookup_calls", "tuningJobs.list/get calls in the whole burst", "calls", lookups)
    result.add(
        "duplicates", "duplicate creates", "calls", sum(n - 1 for n in creates_per_uid.values()), "target 0"
    )
    return result


def _floor(env: BenchEnv, jobs: int) -> float:
    """Create `jobs` objects and patch each one's status once, from the same pool; no operator watches."""
    namespace = env.new_namespace("floor")
    bodies = [tuning_job(f"floor-{i:05d}") for i in range(jobs)]
    status = {"state": RUNNING}

    def create_and_patch(body: dict[str, Any]) -> None:
        env.api().create(TUNINGJOBS.collection_path(namespace), body)
        env.patch_status(namespace, body["metadata"]["name"], status)

    started = time.time()
    env.parallel(bodies, create_and_patch)
    return time.time() - started


def _server_cpu(env: BenchEnv) -> float:
    """CPU seconds used so far by etcd and kube-apiserver: on a small machine they are the shared limit."""
    return sum(cpu_seconds(pid) for pid in env.control_plane.pids())


def _our_requests(counts: Counter[str]) -> Counter[str]:
    """The requests about TuningJobs and their Events: what the burst causes, not the server's own."""
    return Counter({k: v for k, v in counts.items() if k.startswith(("tuningjobs", "events ")) and v > 0})


def _unix(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
