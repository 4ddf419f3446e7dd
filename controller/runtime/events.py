"""Kubernetes Events about our resources, aggregated and rate-limited so a failing loop cannot flood etcd.

We write core `v1` Events (reporting component `vertexops`) rather than `events.k8s.io/v1` ones. Both APIs
store the same objects, but core v1's `count` / `firstTimestamp` / `lastTimestamp` are what `kubectl
describe` and `kubectl get events` show directly ("3m (x12 over 1h)"), and the core shape needs no
`eventTime`/`action`/`series` bookkeeping. RBAC: `create` and `patch` on `events` in the core group.

Repeats of the same (object, type, reason, message) within `aggregate_window_seconds` update one Event's
`count` and `lastTimestamp` instead of creating new Events. On top of that, each (object, reason) has a
token bucket (`burst` writes, then one per `refill_seconds`, like client-go's spam filter): a repeat that
finds the bucket empty is only counted locally, and the count is written with the next allowed update.

Recording never raises and never waits: an Event is a courtesy to the user, and failing to write one must
not fail (or slow) the reconcile that reported it. `record` decides under a lock what to write and hands it
to one sender thread, which writes in order (so a repeat finds the Event its first occurrence created); the
reconciles of a burst of new resources no longer take turns at one lock around an HTTP call each. Failures
are logged; `flush` waits until what was recorded has been written (shutdown, tests).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from controller.runtime.kubeapi import CONNECTION_ERRORS, EVENTS, ApiError, JsonObject, KubeApi

log = logging.getLogger(__name__)

_ERRORS: tuple[type[BaseException], ...] = (ApiError, *CONNECTION_ERRORS)

EventKind = Literal["Normal", "Warning"]
COMPONENT = "vertexops"
_MAX_MESSAGE = 1024
_MAX_REASON = 128
_REQUEST_TIMEOUT = (5.0, 10.0)


def _timestamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class _Aggregate:
    namespace: str
    name: str | None  # None until the first write succeeds
    count: int
    written_count: int
    first_timestamp: str
    last_seen: float


class EventRecorder:
    def __init__(
        self,
        api: KubeApi,
        component: str = COMPONENT,
        instance: str | None = None,
        *,
        burst: int = 25,
        refill_seconds: float = 300.0,
        aggregate_window_seconds: float = 600.0,
        max_tracked: int = 4096,
        max_queued: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if burst < 1 or refill_seconds <= 0:
            raise ValueError(f"event recorder: burst ({burst}) must be >= 1 and refill_seconds > 0")
        self.api = api
        self.component = component
        self.instance = instance or socket.gethostname()
        self.burst = burst
        self.refill_seconds = refill_seconds
        self.aggregate_window_seconds = aggregate_window_seconds
        self.max_tracked = max_tracked
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._aggregates: OrderedDict[tuple[str, str, str, str], _Aggregate] = OrderedDict()
        self._outbox: queue.Queue[_Write] = queue.Queue(maxsize=max_queued)
        self._unsent = 0  # recorded and not written yet
        self._sent = threading.Condition(self._lock)
        self._sender: threading.Thread | None = None

    def normal(self, obj: JsonObject, reason: str, message: str) -> None:
        self.record(obj, "Normal", reason, message)

    def warning(self, obj: JsonObject, reason: str, message: str) -> None:
        self.record(obj, "Warning", reason, message)

    def record(self, obj: JsonObject, event_type: EventKind, reason: str, message: str) -> None:
        """Report `reason: message` about `obj` (a dict with apiVersion, kind and metadata)."""
        try:
            involved = _involved_object(obj)
        except ValueError as err:
            log.error("event not recorded", extra={"reason": reason, "error": str(err)})
            return
        if event_type not in ("Normal", "Warning"):
            log.error("event not recorded: type must be Normal or Warning", extra={"type": event_type})
            return
        reason = reason[:_MAX_REASON]
        message = message[:_MAX_MESSAGE]
        object_id = involved.get("uid") or f"{involved.get('namespace')}/{involved['name']}"
        with self._lock:
            allowed = self._take_token((object_id, reason))
            key = (object_id, event_type, reason, message)
            now = self._clock()
            aggregate = self._aggregates.get(key)
            if aggregate is None or now - aggregate.last_seen > self.aggregate_window_seconds:
                aggregate = _Aggregate(
                    namespace=involved.get("namespace") or "default",
                    name=None,
                    count=0,
                    written_count=0,
                    first_timestamp=_timestamp(),
                    last_seen=now,
                )
                self._aggregates[key] = aggregate
            self._aggregates.move_to_end(key)
            while len(self._aggregates) > self.max_tracked:
                self._aggregates.popitem(last=False)
            aggregate.count += 1
            aggregate.last_seen = now
            if not allowed:
                return
            try:
                self._outbox.put_nowait(
                    _Write(aggregate, involved, event_type, reason, message, aggregate.count)
                )
            except queue.Full:
                log.warning("event not written: too many waiting", extra={"reason": reason})
                return
            self._unsent += 1
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_loop, name="event-sender", daemon=True)
                self._sender.start()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every Event recorded so far has been written (or failed); False on timeout."""
        with self._sent:
            return self._sent.wait_for(lambda: self._unsent == 0, timeout)

    def _send_loop(self) -> None:
        while True:
            item = self._outbox.get()
            self._write(item)
            with self._sent:
                self._unsent -= 1
                self._sent.notify_all()

    def _take_token(self, key: tuple[str, str]) -> bool:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), updated=now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_tracked:
            self._buckets.popitem(last=False)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) / self.refill_seconds)
        bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def _write(self, item: _Write) -> None:
        """One Event write, with the count as of its recording (the rate limit's accounting)."""
        aggregate, involved, reason, count = item.aggregate, item.involved, item.reason, item.count
        now = _timestamp()
        try:
            if aggregate.name is not None:
                try:
                    self.api.request(
                        "PATCH",
                        EVENTS.object_path(aggregate.name, aggregate.namespace),
                        body={"count": count, "lastTimestamp": now},
                        content_type="application/merge-patch+json",
                        timeout=_REQUEST_TIMEOUT,
                    )
                    aggregate.written_count = count
                    return
                except ApiError as err:
                    if not err.not_found:
                        raise
                    # The Event expired (the API server keeps them for an hour): start a new one.
                    aggregate.name = None
                    aggregate.first_timestamp = now
            name = f"{involved['name']}.{time.time_ns():x}"
            body: JsonObject = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": aggregate.namespace},
                "involvedObject": involved,
                "reason": reason,
                "message": item.message,
                "type": item.event_type,
                "source": {"component": self.component},
                "reportingComponent": self.component,
                "reportingInstance": self.instance,
                "firstTimestamp": aggregate.first_timestamp,
                "lastTimestamp": now,
                "count": count,
            }
            self.api.request(
                "POST", EVENTS.collection_path(aggregate.namespace), body=body, timeout=_REQUEST_TIMEOUT
            )
            aggregate.name = name
            aggregate.written_count = count
        except _ERRORS as err:
            log.warning(
                "could not write event",
                extra={
                    "reason": reason,
                    "object": involved.get("name"),
                    "error": f"{type(err).__name__}: {err}",
                },
            )


@dataclass(frozen=True)
class _Write:
    aggregate: _Aggregate
    involved: JsonObject
    event_type: str
    reason: str
    message: str
    count: int


def _involved_object(obj: JsonObject) -> JsonObject:
    metadata = obj.get("metadata") or {}
    for field, value in (
        ("apiVersion", obj.get("apiVersion")),
        ("kind", obj.get("kind")),
        ("metadata.name", metadata.get("name")),
    ):
        if not value:
            raise ValueError(f"involved object: {field} is missing")
    involved: JsonObject = {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": metadata["name"],
    }
    for source, target in (
        ("namespace", "namespace"),
        ("uid", "uid"),
        ("resourceVersion", "resourceVersion"),
    ):
        if metadata.get(source):
            involved[target] = metadata[source]
    return involved
