"""Helpers shared by the reliability scenarios: operators to start and kill, what the emulator really holds,
a sampler that watches statuses while faults are injected, and checks of a final status.

The checks count on the emulator's side (the jobs that exist, per resource UID label), never on what the
operator says about itself: a duplicate paid job is only visible where it was created.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from e2e.support import Resources, condition
from kubernetes import client as k8s

from controller.api.resource import GROUP, VERSION
from controller.testenv.google_credentials import EXTERNAL_ACCOUNT
from controller.testenv.operator import OperatorProcess
from emulator.server import Emulator
from emulator.vertex_jobs import phase_at

PROJECT = "vertexops-test"
LOCATION = "us-central1"
UID_LABEL = "vertexops-uid"
ACTIVE_STATES = frozenset(
    {"JOB_STATE_PENDING", "JOB_STATE_QUEUED", "JOB_STATE_RUNNING", "JOB_STATE_CANCELLING"}
)

# The poll intervals of e2e, so a simulated hour passes in seconds.
FAST_OPERATOR_ARGS = (
    "--poll-min-seconds=0.3",
    "--poll-max-seconds=1",
    "--metrics-interval-seconds=0.5",
    "--create-grace-seconds=3",
    "--workers=4",
)


@dataclass(frozen=True)
class RemoteJob:
    """A tuning job as the emulator holds it (not as any client last saw it)."""

    name: str
    state: str
    display_name: str
    uid: str


def remote_jobs(emulator: Emulator, project: str = PROJECT, location: str = LOCATION) -> list[RemoteJob]:
    vertex = emulator.state.vertex
    now = vertex.now()
    jobs = []
    for job in vertex.jobs_in(project, location):
        labels = job.spec.get("labels") or {}
        jobs.append(
            RemoteJob(
                name=job.name,
                state=phase_at(job, now).state,
                display_name=str(job.spec.get("tunedModelDisplayName") or ""),
                uid=str(labels.get(UID_LABEL, "")),
            )
        )
    return jobs


def jobs_by_uid(
    emulator: Emulator, project: str = PROJECT, location: str = LOCATION
) -> dict[str, list[RemoteJob]]:
    out: dict[str, list[RemoteJob]] = {}
    for job in remote_jobs(emulator, project, location):
        out.setdefault(job.uid, []).append(job)
    return out


def duplicates(emulator: Emulator, project: str = PROJECT, location: str = LOCATION) -> dict[str, list[str]]:
    """UIDs that own more than one remote job: each of these is a paid job created twice."""
    return {
        uid: [j.name for j in jobs]
        for uid, jobs in jobs_by_uid(emulator, project, location).items()
        if len(jobs) > 1
    }


class Operators:
    """Starts operator processes for one namespace set and stops every one of them at the end."""

    def __init__(
        self,
        kubeconfig: Path,
        emulator: Emulator,
        log_dir: Path,
        namespaces: Sequence[str],
        base_args: Sequence[str] = FAST_OPERATOR_ARGS,
        *,
        google_credentials: str = EXTERNAL_ACCOUNT,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.emulator = emulator
        self.log_dir = log_dir
        self.namespaces = list(namespaces)
        self.base_args = list(base_args)
        # Workload Identity Federation here (the e2e suite uses a service-account key): each replica gets its
        # own federated identity from the emulator's STS, as pods of one Deployment would.
        self.google_credentials = google_credentials
        self.started: list[OperatorProcess] = []

    def start(
        self,
        *extra: str,
        wait_ready: bool = True,
        leader_election: bool = False,
        project: str = PROJECT,
        env: dict[str, str] | None = None,
        google_credentials: str | None = None,
    ) -> OperatorProcess:
        proc = OperatorProcess(
            self.kubeconfig,
            self.emulator.url,
            self.log_dir / f"operator-{len(self.started)}.log",
            project=project,
            namespaces=self.namespaces,
            leader_election=leader_election,
            extra_args=[*self.base_args, *extra],
            env=env,
            google_credentials=google_credentials or self.google_credentials,
        )
        self.started.append(proc)
        return proc.start(wait_ready=wait_ready, timeout=120)

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()

    def logs(self) -> str:
        return "\n".join(p.log_path.read_text(errors="replace") for p in self.started if p.log_path.exists())


def healthz(proc: OperatorProcess) -> int:
    return httpx.get(f"http://127.0.0.1:{proc.http_port}/healthz", timeout=5).status_code


def metric(proc: OperatorProcess, name: str) -> float:
    """The sum of every series of `name` on the process's /metrics page (0 when absent)."""
    return metrics(proc, name)[name]


def metrics(proc: OperatorProcess, *names: str) -> dict[str, float]:
    """Several metrics from ONE scrape, so they describe the same instant."""
    totals = dict.fromkeys(names, 0.0)
    for line in proc.metrics().splitlines():
        for name in names:
            if line.startswith(name + " ") or line.startswith(name + "{"):
                totals[name] += float(line.rsplit(" ", 1)[1])
    return totals


def list_objects(resources: Resources, plural: str = "tuningjobs") -> list[dict[str, Any]]:
    result = resources.api.list_namespaced_custom_object(GROUP, VERSION, resources.namespace, plural)
    return list(result["items"])


def wait_all(
    resources: Resources,
    names: Iterable[str],
    predicate: Callable[[dict[str, Any]], bool],
    *,
    timeout: float,
    what: str,
    plural: str = "tuningjobs",
) -> dict[str, dict[str, Any]]:
    """Poll until every named resource satisfies `predicate`; fail naming the ones that did not."""
    wanted = set(names)
    deadline = time.monotonic() + timeout
    latest: dict[str, dict[str, Any]] = {}
    while True:
        with contextlib.suppress(k8s.ApiException):
            latest = {
                o["metadata"]["name"]: o
                for o in list_objects(resources, plural)
                if o["metadata"]["name"] in wanted
            }
        missing = sorted(n for n in wanted if n not in latest or not predicate(latest[n]))
        if not missing:
            return latest
        if time.monotonic() > deadline:
            sample = {n: summary(latest[n]) if n in latest else "(absent)" for n in missing[:5]}
            raise AssertionError(f"{len(missing)} of {len(wanted)} resources never reached {what}: {sample}")
        time.sleep(0.5)


def wait_gone(resources: Resources, names: Iterable[str], *, timeout: float) -> None:
    wanted = set(names)
    deadline = time.monotonic() + timeout
    while True:
        present = {
            o["metadata"]["name"]: o for o in list_objects(resources) if o["metadata"]["name"] in wanted
        }
        if not present:
            return
        if time.monotonic() > deadline:
            sample = {n: (o["metadata"].get("finalizers"), summary(o)) for n, o in list(present.items())[:5]}
            raise AssertionError(f"{len(present)} deleted resources still present after {timeout}s: {sample}")
        time.sleep(0.5)


def summary(obj: dict[str, Any]) -> dict[str, Any]:
    """The parts of a status a failure message needs: state and each condition's status and reason."""
    status = obj.get("status") or {}
    return {
        "state": status.get("state"),
        **{
            c["type"]: f"{c['status']}/{c.get('reason')}: {c.get('message', '')[:160]}"
            for c in status.get("conditions") or []
        },
    }


def state_of(obj: dict[str, Any]) -> str | None:
    return (obj.get("status") or {}).get("state")


def cond_is(obj: dict[str, Any], type_: str, status: str, reason: str | None = None) -> bool:
    found = condition(obj, type_)
    return (
        found is not None and found["status"] == status and (reason is None or found.get("reason") == reason)
    )


def coherence_problems(obj: dict[str, Any]) -> list[str]:
    """What is inconsistent in a settled resource's status (empty when its conditions agree with its state).

    Settled means the job ended: Ready exactly when it succeeded, Stalled exactly when it failed, never
    Reconciling, Synced True, every condition and the status itself for the current generation.
    """
    problems: list[str] = []
    status = obj.get("status") or {}
    state = status.get("state")
    generation = obj["metadata"].get("generation")
    if status.get("observedGeneration") != generation:
        problems.append(f"observedGeneration {status.get('observedGeneration')} != generation {generation}")
    expected = {
        "JOB_STATE_SUCCEEDED": {
            "Ready": "True",
            "Reconciling": "False",
            "Stalled": "False",
            "Synced": "True",
        },
        "JOB_STATE_FAILED": {"Ready": "False", "Reconciling": "False", "Stalled": "True", "Synced": "True"},
        "JOB_STATE_CANCELLED": {
            "Ready": "False",
            "Reconciling": "False",
            "Stalled": "True",
            "Synced": "True",
        },
    }.get(str(state))
    if expected is None:
        return [*problems, f"not settled: state {state!r}"]
    for type_, want in expected.items():
        found = condition(obj, type_)
        if found is None:
            problems.append(f"{type_} missing")
            continue
        if found["status"] != want:
            problems.append(f"{type_}={found['status']} ({found.get('reason')}), expected {want}")
        if found.get("observedGeneration") not in (None, generation):
            problems.append(f"{type_} is for generation {found.get('observedGeneration')}")
    if state == "JOB_STATE_SUCCEEDED" and not (status.get("tunedModel") or {}).get("endpoint"):
        problems.append("succeeded without status.tunedModel.endpoint")
    return problems


@dataclass
class Sampler:
    """Lists the namespace's resources every `interval` seconds in a thread and keeps what it saw.

    Used to prove that something was *visible while it lasted* (Synced=False during an outage), which a
    check at the end cannot show. A check that something *never* happened is only as good as the sample
    behind it, so leaving the `with` block fails the test when fewer than `min_rounds` listings succeeded,
    or when any listing failed and `tolerate_errors` is not set (a sampler that runs through a deliberate
    API-server outage sets it, and still needs `min_rounds` good listings).
    """

    resources: Resources
    plural: str = "tuningjobs"
    # Often enough that even a scenario over in two seconds gives `min_rounds` listings.
    interval: float = 0.1
    min_rounds: int = 8
    tolerate_errors: bool = False
    seen: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    rounds: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="status-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if exc_type is None:  # never hide the test's own failure behind the sampler's
            self.verify()

    def verify(self) -> None:
        """Fail unless the sample is big enough, and clean enough, to support a "never happened" check."""
        assert self.rounds >= self.min_rounds, (
            f"the status sampler listed successfully only {self.rounds} times (at least {self.min_rounds} "
            f"needed); errors: {self.errors[:5]}"
        )
        assert self.tolerate_errors or not self.errors, (
            f"the status sampler failed {len(self.errors)} times: {self.errors[:5]}"
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                now = time.monotonic()
                for obj in list_objects(self.resources, self.plural):
                    self.seen.append((now, obj["metadata"]["name"], obj))
                self.rounds += 1
            except Exception as error:  # kept, and judged in verify()
                self.errors.append(f"{type(error).__name__}: {str(error)[:200]}")
            self._stop.wait(self.interval)

    def matching(self, predicate: Callable[[dict[str, Any]], bool]) -> list[tuple[str, dict[str, Any]]]:
        return [(name, obj) for _, name, obj in list(self.seen) if predicate(obj)]

    def samples_of(self, name: str) -> int:
        return sum(1 for _, seen_name, _ in list(self.seen) if seen_name == name)

    def states(self, name: str) -> list[str]:
        """The distinct states `name` was seen in, in order."""
        out: list[str] = []
        for _, seen_name, obj in list(self.seen):
            state = state_of(obj)
            if seen_name == name and state and (not out or out[-1] != state):
                out.append(state)
        return out


def vanish(emulator: Emulator, job_name: str) -> None:
    """Remove a job from the emulator as if it had been deleted on Google's side.

    Vertex offers no delete call for tuning jobs, so the emulator has none either; a job can still
    disappear (its project deleted or restored from backup). This reaches into the emulator's store, under
    its lock, to produce exactly that.
    """
    vertex = emulator.state.vertex
    job_id = job_name.rsplit("/", 1)[-1]
    with vertex._lock:
        job = vertex._by_id.pop(job_id)
        vertex._by_parent[(job.project, job.location)].remove(job)
        vertex._by_endpoint.pop(job.endpoint_id, None)
