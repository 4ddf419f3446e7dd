"""What every benchmark needs: one control plane with our CRDs, namespaces, the operator, bulk writes.

The benchmark process writes through `KubeApi` (the operator's own thin JSON layer over the official client)
from a thread pool, one `ApiClient` per thread, so that the floor and the apply in front of the operator are
produced by exactly the same code.
"""

from __future__ import annotations

import contextlib
import importlib.util
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client as k8s

from controller.api.resource import GROUP, VERSION
from controller.crdgen import install_crds
from controller.runtime.kubeapi import KubeApi, ResourceRef
from controller.testenv.controlplane import ControlPlane
from controller.testenv.operator import OperatorProcess, grant_operator_rights

ROOT = Path(__file__).resolve().parent.parent
TUNINGJOBS = ResourceRef(GROUP, VERSION, "tuningjobs")
PROJECT = "vertexops-bench"
FINALIZER = "tuning.vertexops.dev/finalizer"
READY = "Ready"  # recorded in `first_seen` like a state, when the Ready condition turns True
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY"})


def tuning_job(name: str, *, location: str | None = None, display: str | None = None) -> dict[str, Any]:
    """A TuningJob as a user would apply it; the dataset URI varies so jobs differ in size as in life."""
    spec: dict[str, Any] = {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {
            "trainingDatasetUri": f"gs://vertexops-bench/{name}/train.jsonl",
            "validationDatasetUri": f"gs://vertexops-bench/{name}/validation.jsonl",
            "hyperParameters": {"epochCount": 3, "adapterSize": "ADAPTER_SIZE_FOUR"},
        },
        "tunedModelDisplayName": display or name,
        "projectID": PROJECT,
    }
    if location:
        spec["location"] = location
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "TuningJob", "metadata": {"name": name}, "spec": spec}


class BenchEnv:
    """One control plane for a whole benchmark run; each scenario takes fresh namespaces from it."""

    def __init__(self, control_plane: ControlPlane, workdir: Path, threads: int = 8) -> None:
        self.control_plane = control_plane
        self.workdir = workdir
        self.threads = threads
        install_crds(control_plane.kubectl)
        self.operator_kubeconfig = grant_operator_rights(control_plane)
        self._local = threading.local()
        self.admin = KubeApi(control_plane.api_client())
        self._operators: list[OperatorProcess] = []

    # -- clients -------------------------------------------------------------------------------------

    def api(self) -> KubeApi:
        """A client of this thread's own (parallel writers do not queue on one connection pool)."""
        api: KubeApi | None = getattr(self._local, "api", None)
        if api is None:
            api = KubeApi(self.control_plane.api_client())
            self._local.api = api
        return api

    def new_namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.admin.create("/api/v1/namespaces", {"metadata": {"name": name}})
        return name

    def kubernetes_version(self) -> str:
        info = k8s.VersionApi(self.control_plane.api_client()).get_code()
        return str(info.git_version)

    # -- bulk writes ---------------------------------------------------------------------------------

    def parallel(self, items: Iterable[Any], work: Callable[[Any], Any]) -> list[Any]:
        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(work, items))

    def create_jobs(self, namespace: str, bodies: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        """Create the objects from the pool; return each one's apply time (just before its request)."""
        path = TUNINGJOBS.collection_path(namespace)

        def create(body: Mapping[str, Any]) -> tuple[str, float]:
            started = time.time()
            self.api().create(path, body)
            return body["metadata"]["name"], started

        return dict(self.parallel(bodies, create))

    def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        return self.api().merge_patch(TUNINGJOBS.object_path(name, namespace) + "/status", {"status": status})

    def list_jobs(self, namespace: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query = [("limit", "500"), *([("continue", token)] if token else [])]
            page = self.admin.get(TUNINGJOBS.collection_path(namespace), query)
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    # -- the kube-apiserver's own request counter ---------------------------------------------------

    def apiserver_writes(self) -> Counter[str]:
        """Write requests the API server has served, keyed `resource[/subresource] VERB`, from /metrics."""
        return Counter({k: v for k, v in self.apiserver_requests().items() if k.split()[-1] in WRITE_VERBS})

    def apiserver_requests(self) -> Counter[str]:
        """Every request the API server has served, keyed `resource[/subresource] VERB`, from /metrics."""
        certs = self.control_plane.certs
        assert certs is not None
        tls = ssl.create_default_context(cafile=str(certs.serving_ca.cert))
        tls.load_cert_chain(str(certs.admin_client.cert), str(certs.admin_client.key))
        text = httpx.get(f"{self.control_plane.server}/metrics", verify=tls, timeout=30).text
        counts: Counter[str] = Counter()
        for line in text.splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, _, value = line.rpartition("} ")
            labels = dict(
                part.split("=", 1) for part in labels_text.removeprefix("apiserver_request_total{").split(",")
            )
            labels = {k: v.strip('"') for k, v in labels.items()}
            resource = labels.get("resource", "")
            if labels.get("subresource"):
                resource += "/" + labels["subresource"]
            counts[f"{resource} {labels['verb']}"] += int(float(value))
        return counts

    # -- the operator --------------------------------------------------------------------------------

    def start_operator(
        self, namespace: str, vertex_url: str, extra_args: Sequence[str] = (), label: str = "operator"
    ) -> OperatorProcess:
        log_path = self.workdir / f"{label}-{namespace}-{len(self._operators)}.log"
        operator = OperatorProcess(
            self.operator_kubeconfig,
            vertex_url,
            log_path,
            project=PROJECT,
            namespaces=[namespace],
            extra_args=["--log-level=WARNING", *extra_args],
            env=image_environment(),
        )
        self._operators.append(operator)
        return operator.start(wait_ready=True, timeout=180)

    def stop_operators(self) -> None:
        for operator in self._operators:
            with contextlib.suppress(Exception):
                operator.stop()
        self._operators.clear()


def image_environment() -> dict[str, str]:
    """The environment the operator image sets (the Dockerfile's last stage), PATH left out.

    The operator is measured as its image runs it: `MALLOC_ARENA_MAX` alone moves the resident size at
    10,000 jobs by a quarter. Read through tools/image/archive.py, the parser tools/build-image.sh uses,
    so the bench and the image cannot disagree.
    """
    spec = importlib.util.spec_from_file_location("image_archive", ROOT / "tools" / "image" / "archive.py")
    assert spec is not None and spec.loader is not None
    archive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(archive)
    pairs = (entry.split("=", 1) for entry in archive.image_config(ROOT / "Dockerfile")["Env"])
    return {name: value for name, value in pairs if name != "PATH"}


def operator_pid(operator: OperatorProcess) -> int:
    assert operator.popen is not None, "the operator is not running"
    return operator.popen.pid


def operator_metric(operator: OperatorProcess, name: str) -> float:
    """The sum of one metric family's samples on the operator's /metrics."""
    total = 0.0
    for line in operator.metrics().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait_settled(
    operator: OperatorProcess, quiet_seconds: float = 3.0, timeout: float = 900.0, *, polling: bool = False
) -> None:
    """Wait until the operator has worked through what it was given.

    Without `polling`: the work queue is empty and no reconcile has finished for `quiet_seconds`. With it
    (running jobs are polled all the time, so reconciles never stop): the queue has stayed empty for
    `quiet_seconds`, that is, no key is waiting for a worker.
    """
    deadline = time.monotonic() + timeout
    last = -1.0
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        done = operator_metric(operator, "vertexops_reconcile_total")
        depth = operator_metric(operator, "vertexops_workqueue_depth")
        if depth > 0 or (done != last and not polling):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return
        last = done
        time.sleep(0.5)
    raise TimeoutError(f"the operator did not settle within {timeout:.0f}s")


@dataclass
class WatchRecord:
    """What a watch saw of the objects of one namespace."""

    states: dict[str, str] = field(default_factory=dict)
    # (name, state) -> when the watch first delivered the object in that state (time.time()).
    first_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    modified: int = 0
    ready: set[str] = field(default_factory=set)


class StateWatcher:
    """A watch on the TuningJobs of one namespace, in a thread, recording when each reaches each state.

    Watch events, not polling: the time an object reaches RUNNING is then the time the API server told
    the watchers (the operator included), not when a poll loop happened to look.
    """

    def __init__(self, env: BenchEnv, namespace: str) -> None:
        self.env = env
        self.namespace = namespace
        self.record = WatchRecord()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._stream: Any = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{namespace}", daemon=True)

    def __enter__(self) -> StateWatcher:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError(f"the watch on {self.namespace} did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._stream is not None:
            self._stream.interrupt()
        self._thread.join(10)

    def _note(self, obj: Mapping[str, Any], now: float) -> None:
        name = obj["metadata"]["name"]
        state = (obj.get("status") or {}).get("state") or ""
        conditions = (obj.get("status") or {}).get("conditions") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
        with self._lock:
            self.record.states[name] = state
            self.record.first_seen.setdefault((name, state), now)
            if ready:
                self.record.ready.add(name)
                self.record.first_seen.setdefault((name, READY), now)
            self._changed.notify_all()

    def _run(self) -> None:
        api = KubeApi(self.env.control_plane.api_client())
        path = TUNINGJOBS.collection_path(self.namespace)
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    listed = api.get(path)
                    for obj in listed.get("items") or []:
                        self._note(obj, time.time())
                    version = listed["metadata"]["resourceVersion"]
                query = [
                    ("watch", "true"),
                    ("resourceVersion", version),
                    ("allowWatchBookmarks", "true"),
                    ("timeoutSeconds", "30"),
                ]
                self._stream = api.stream(path, query, timeout=(10, 60))
                self._ready.set()
                for event in self._stream:
                    now = time.time()
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        version = ""  # 410 Gone: list again
                        break
                    version = obj["metadata"].get("resourceVersion") or version
                    if event["type"] == "BOOKMARK":
                        continue
                    if event["type"] == "MODIFIED":
                        with self._lock:
                            self.record.modified += 1
                    self._note(obj, now)
            except Exception:  # reconnect after any failure, as an informer does
                if self._stop.is_set():
                    return
                time.sleep(0.5)

    def count(self, predicate: Callable[[str], bool]) -> int:
        with self._lock:
            return sum(1 for state in self.record.states.values() if predicate(state))

    def wait(self, predicate: Callable[[str], bool], expected: int, timeout: float, what: str) -> None:
        """Wait until `expected` objects have a state satisfying `predicate`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                done = sum(1 for state in self.record.states.values() if predicate(state))
                if done >= expected:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{what}: {done} of {expected} after {timeout:.0f}s")
                self._changed.wait(min(left, 1.0))

    def wait_ready(self, expected: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.record.ready) < expected:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"Ready: {len(self.record.ready)} of {expected} after {timeout:.0f}s")
                self._changed.wait(min(left, 1.0))

    def modified(self) -> int:
        with self._lock:
            return self.record.modified

    def first_seen(self, name: str, state: str) -> float | None:
        with self._lock:
            return self.record.first_seen.get((name, state))


@contextlib.contextmanager
def watching(env: BenchEnv, namespace: str) -> Iterator[StateWatcher]:
    with StateWatcher(env, namespace) as watcher:
        yield watcher
