"""The manager: wires informers to work queues to reconcile functions, and runs them while this replica leads.

    manager = Manager(api_client, RuntimeConfig(...))
    manager.add_controller("TuningJob", TUNINGJOBS, reconcile)            # reconcile(kind, key) -> Result
    manager.watch(CONFIGMAPS, kind="TuningJob", map_fn=map_to_owner(GROUP, "TuningJob"))
    sys.exit(manager.run())                                               # blocks until SIGTERM/SIGINT

One work queue per kind (not one shared queue of (kind, key) pairs), each with its own workers. This is
controller-runtime's shape: a burst of one kind (a thousand ConfigMap changes mapping to TunedModels) cannot
starve the other kind's reconciles, the retry backoff and the queue metrics are per kind, and a key is a
plain `namespace/name` that the kind's reconcile function reads from its own cache.

Start-up: the health port opens first (`/healthz` answers at once), then every informer lists and watches,
also on followers, so `/readyz` turns ready once the caches are synced and a follower can take over with a
warm cache. Workers start only while this replica holds the leader Lease (or at once when leader election
is off). Events keep filling the de-duplicated queues on a follower; they are processed when it leads.

Stop: on SIGTERM/SIGINT (or `shutdown()`), the queues stop handing out keys, in-flight reconciles get up to
`shutdown_timeout_seconds` to finish, then the Lease is released so another replica takes over at once, and
`run()` returns 0. Losing the Lease is different: the manager stops taking keys immediately and `run()`
returns 1, so the process exits and its restart rejoins the election cleanly, as controller-runtime does.

RBAC the runtime itself needs: `list` and `watch` on every watched resource (in the watched namespaces, or
cluster-wide when `namespaces` is empty); `get`, `create` and `update` on `leases` (coordination.k8s.io) in
`lease_namespace` when leader election is on; `create` and `patch` on core `events`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from kubernetes import client as k8s

from controller.runtime.config import RuntimeConfig
from controller.runtime.events import EventRecorder
from controller.runtime.httpserver import HealthServer
from controller.runtime.informer import EventType, Informer
from controller.runtime.kubeapi import JsonObject, KubeApi, ResourceRef
from controller.runtime.leader import LeaderElector
from controller.runtime.log import log_context
from controller.runtime.mapping import MapFn
from controller.runtime.metrics import Metrics, ReconcileResult
from controller.runtime.store import Store, object_key
from controller.runtime.workqueue import ExponentialBackoff, WorkQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What a reconcile asks for next.

    `requeue_after=None`: done until something changes. `requeue_after=N` (seconds): run again in N seconds
    (polling a running job). `requeue_after=0`: run again soon, with the same growing backoff as an error
    but without logging one. Raising an exception means error: logged, retried with backoff.
    """

    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and self.requeue_after < 0:
            raise ValueError(f"Result.requeue_after: must be >= 0 seconds or None, got {self.requeue_after}")


Reconcile = Callable[[str, str], Result | None]
Predicate = Callable[[EventType, JsonObject, JsonObject | None], bool]


@dataclass
class _Controller:
    kind: str
    resource: ResourceRef
    reconcile: Reconcile
    workers: int
    queue: WorkQueue[str]
    threads: list[threading.Thread] = field(default_factory=list)


class Manager:
    def __init__(
        self,
        api_client: k8s.ApiClient,
        config: RuntimeConfig | None = None,
        *,
        metrics: Metrics | None = None,
        on_lost_leadership: Callable[[], None] | None = None,
    ) -> None:
        self.config = config or RuntimeConfig()
        self.api = KubeApi(api_client)
        self.metrics = metrics or Metrics()
        self.events = EventRecorder(self.api)
        self._on_lost_leadership = on_lost_leadership
        self._controllers: dict[str, _Controller] = {}
        self._informers: dict[tuple[ResourceRef, tuple[str, ...], str | None], Informer] = {}
        self._lock = threading.Lock()
        self._started = False
        self._stopping = threading.Event()
        self._stop_requested = threading.Event()
        self._stopped = threading.Event()
        self._workers_started = False
        self._exit_code = 0
        self._elector: LeaderElector | None = None
        self._http: HealthServer | None = None
        self._starter: threading.Thread | None = None

    # -- building ------------------------------------------------------------------------------------------

    def add_controller(
        self,
        kind: str,
        resource: ResourceRef,
        reconcile: Reconcile,
        *,
        workers: int | None = None,
        predicate: Predicate | None = None,
    ) -> WorkQueue[str]:
        """Reconcile every object of `resource` as `kind`; returns the kind's queue (for tests and tools)."""
        if self._started:
            raise RuntimeError(f"add_controller({kind!r}): the manager has already started")
        if kind in self._controllers:
            raise ValueError(f"add_controller: kind {kind!r} is already registered")
        queue: WorkQueue[str] = WorkQueue(
            name=kind,
            backoff=ExponentialBackoff(
                self.config.requeue_base_delay_seconds, self.config.requeue_max_delay_seconds
            ),
            observer=self.metrics.queue_observer(kind),
        )
        self.metrics.register_queue(kind, queue)
        controller = _Controller(kind, resource, reconcile, workers or self.config.workers, queue)
        self._controllers[kind] = controller

        def enqueue(event_type: EventType, obj: JsonObject, old: JsonObject | None) -> None:
            if event_type is EventType.DELETED:
                metadata = obj.get("metadata") or {}
                self.metrics.forget_resource(
                    kind, metadata.get("namespace") or "", metadata.get("name") or ""
                )
            if predicate is not None and not predicate(event_type, obj, old):
                return
            queue.add(object_key(obj))

        self.informer(resource).add_handler(enqueue)
        return queue

    def watch(
        self,
        resource: ResourceRef,
        *,
        kind: str,
        map_fn: MapFn,
        namespaces: Sequence[str] | None = None,
        label_selector: str | None = None,
    ) -> Informer:
        """Reconcile objects of `kind` when objects of another resource change (referenced or owned ones).

        `map_fn(obj)` returns the keys (`namespace/name`) of the `kind` objects to reconcile; for an update
        it is called with both the old and the new version, so a reference that moved wakes both owners.
        """
        if self._started:
            raise RuntimeError(f"watch({resource}): the manager has already started")
        controller = self._controllers.get(kind)
        if controller is None:
            raise ValueError(f"watch({resource}): kind {kind!r} has no controller; call add_controller first")
        queue = controller.queue

        def enqueue_mapped(event_type: EventType, obj: JsonObject, old: JsonObject | None) -> None:
            keys = set(map_fn(obj))
            if old is not None:
                keys.update(map_fn(old))
            for key in keys:
                queue.add(key)

        informer = self.informer(resource, namespaces=namespaces, label_selector=label_selector)
        informer.add_handler(enqueue_mapped)
        return informer

    def informer(
        self,
        resource: ResourceRef,
        *,
        namespaces: Sequence[str] | None = None,
        label_selector: str | None = None,
    ) -> Informer:
        """The shared informer for `resource` (created on first use): read its cache with `.get(key)`."""
        scope = (
            tuple(self.config.namespaces if namespaces is None else namespaces) if resource.namespaced else ()
        )
        cache_key = (resource, scope, label_selector)
        with self._lock:
            informer = self._informers.get(cache_key)
            if informer is None:
                if self._started:
                    raise RuntimeError(f"informer({resource}): the manager has already started")
                informer = Informer(
                    self.api,
                    resource,
                    scope,
                    resync_period_seconds=self.config.resync_period_seconds,
                    watch_timeout_seconds=self.config.watch_timeout_seconds,
                    page_size=self.config.list_page_size,
                    label_selector=label_selector,
                    observer=self.metrics,
                )
                self._informers[cache_key] = informer
            return informer

    def store(self, kind: str) -> Store:
        """The cache of the kind's primary resource, which its reconcile function reads."""
        controller = self._controllers.get(kind)
        if controller is None:
            raise KeyError(f"store({kind!r}): no controller registered for that kind")
        return self.informer(controller.resource).store

    # -- state ---------------------------------------------------------------------------------------------

    @property
    def http_port(self) -> int:
        if self._http is None:
            raise RuntimeError("http_port: the manager has not started")
        return self._http.port

    def synced(self) -> bool:
        return all(informer.has_synced() for informer in self._informers.values())

    def readiness(self) -> tuple[bool, str]:
        """Ready when every cache is synced; a follower is ready too (it only waits for the Lease)."""
        if self._stopping.is_set():
            return False, "shutting down"
        unsynced = sorted({str(i.resource) for i in self._informers.values() if not i.has_synced()})
        if unsynced:
            return False, "caches not synced: " + ", ".join(unsynced)
        return True, ""

    @property
    def leading(self) -> bool:
        return self._workers_started and not self._stopping.is_set()

    # -- running -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving, informers and (once synced and leading) workers; returns at once."""
        with self._lock:
            if self._started:
                raise RuntimeError("the manager has already started")
            self._started = True
        self._http = HealthServer(
            self.config.bind_address,
            self.config.http_port,
            self.readiness,
            self.metrics.exposition,
            self.metrics.content_type,
        )
        self._http.start()
        if self.config.leader_election:
            # Built here rather than once synced, so a shutdown arriving at any moment finds it to stop.
            cfg = self.config
            self._elector = LeaderElector(
                self.api,
                cfg.lease_namespace,
                cfg.lease_name,
                lease_duration_seconds=cfg.lease_duration_seconds,
                renew_deadline_seconds=cfg.renew_deadline_seconds,
                retry_period_seconds=cfg.retry_period_seconds,
                on_started_leading=self._start_workers,
                on_stopped_leading=self._stopped_leading,
            )
        for informer in self._informers.values():
            informer.start()
        self._starter = threading.Thread(target=self._start_when_synced, name="manager-start", daemon=True)
        self._starter.start()

    def _start_when_synced(self) -> None:
        while not self.synced():
            if self._stopping.wait(0.1):
                return
        log.info("caches synced", extra={"informers": len(self._informers)})
        if self._elector is None:
            self._start_workers()
        else:
            self._elector.run()  # returns at once if shutdown() already stopped it

    def _start_workers(self) -> None:
        with self._lock:
            if self._workers_started or self._stopping.is_set():
                return
            self._workers_started = True
        self.metrics.set_leading(True)
        for controller in self._controllers.values():
            for index in range(controller.workers):
                thread = threading.Thread(
                    target=self._work,
                    args=(controller,),
                    name=f"worker-{controller.kind}-{index}",
                    daemon=True,
                )
                controller.threads.append(thread)
                thread.start()
        log.info("workers started", extra={"controllers": sorted(self._controllers)})

    def _stopped_leading(self) -> None:
        self.metrics.set_leading(False)
        if self._stopping.is_set():
            return  # we released the Lease ourselves while shutting down
        log.error("leader election lost: stopping reconciles now; the process should exit and restart")
        self._exit_code = 1
        for controller in self._controllers.values():
            controller.queue.shutdown()
        if self._on_lost_leadership is not None:
            self._on_lost_leadership()
        self.request_stop()

    def _work(self, controller: _Controller) -> None:
        queue = controller.queue
        while (key := queue.get()) is not None:
            try:
                with log_context(kind=controller.kind, key=key, reconcile_id=uuid.uuid4().hex[:12]):
                    self._reconcile_one(controller, key)
            finally:
                queue.done(key)

    def _reconcile_one(self, controller: _Controller, key: str) -> None:
        queue = controller.queue
        started = time.monotonic()
        outcome: ReconcileResult
        try:
            result = controller.reconcile(controller.kind, key) or Result()
            if not isinstance(result, Result):
                raise TypeError(
                    f"reconcile({controller.kind}): returned {type(result).__name__}, expected Result or None"
                )
        except Exception:
            log.exception("reconcile failed; will retry", extra={"retries": queue.num_requeues(key)})
            queue.add_rate_limited(key)
            outcome = "error"
        else:
            if result.requeue_after is None:
                queue.forget(key)
                outcome = "success"
            elif result.requeue_after == 0:
                queue.add_rate_limited(key)
                outcome = "requeue"
            else:
                queue.forget(key)
                queue.add_after(key, result.requeue_after)
                outcome = "requeue"
        self.metrics.observe_reconcile(controller.kind, outcome, time.monotonic() - started)

    def request_stop(self) -> None:
        """Ask `run()` to shut down; safe from a signal handler or any thread.

        Without `run()` (a caller that used `start()`), this only records the request: call `shutdown()`.
        """
        self._stop_requested.set()

    def run(self) -> int:
        """Start, block until SIGTERM/SIGINT or `request_stop()`, shut down; return the exit code."""
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():

            def on_signal(signum: int, frame: FrameType | None) -> None:
                log.info("signal received; shutting down", extra={"signal": signal.Signals(signum).name})
                self.request_stop()

            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, on_signal)
        try:
            self.start()
            self._stop_requested.wait()
            self.shutdown()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return self._exit_code

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop taking keys, let in-flight reconciles finish (bounded), release the Lease, stop everything.

        Returns True when every in-flight reconcile finished in time. Safe to call more than once.
        """
        with self._lock:
            if self._stopping.is_set():
                first = False
            else:
                self._stopping.set()
                first = True
        if not first:
            self._stopped.wait(timeout)
            return True
        self._stop_requested.set()
        budget = self.config.shutdown_timeout_seconds if timeout is None else timeout
        deadline = time.monotonic() + budget
        log.info("shutting down: finishing in-flight reconciles", extra={"timeout": budget})
        for controller in self._controllers.values():
            controller.queue.shutdown()
        finished = True
        for controller in self._controllers.values():
            for thread in controller.threads:
                thread.join(max(0.0, deadline - time.monotonic()))
                finished = finished and not thread.is_alive()
        if not finished:
            log.warning("reconciles still running at the shutdown deadline; exiting without them")
        self.events.flush(max(1.0, deadline - time.monotonic()))  # what the last reconciles reported
        if self._elector is not None:
            self._elector.stop(release=True)
        if self._starter is not None:
            self._starter.join(self.config.renew_deadline_seconds + 5.0)  # lets the release finish
        for informer in self._informers.values():
            informer.stop()
        if self._http is not None:
            self._http.stop()
        self.metrics.set_leading(False)
        self._stopped.set()
        log.info("stopped", extra={"clean": finished})
        return finished
