"""The operator's Prometheus metrics, in their own registry, with one list that names and explains them all.

`METRICS` is the catalogue: the dashboard and the metrics docs are generated from it, and a test checks that
every entry is really exposed, so the list cannot drift from the code. Each `Metrics` object has its own
`CollectorRegistry` (not the process-global one), so tests can build as many as they like.

Values that belong to a resource (its job state, its latest losses) are kept in plain maps keyed by
(kind, namespace, name) and turned into samples at scrape time. A resource that changes state therefore
moves from one `state` series to the other in one step, and `forget_resource` (which the manager calls when
the object is deleted) removes it everywhere; nothing is left behind for a resource that no longer exists.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

MetricType = Literal["counter", "gauge", "histogram"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_QUEUE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0)


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


METRICS: tuple[MetricDefinition, ...] = (
    MetricDefinition(
        "vertexops_reconcile_total",
        "counter",
        "Reconciles finished, by kind and result: success, error (retried with backoff) or requeue "
        "(asked to run again after a delay, e.g. to poll a running job).",
        ("kind", "result"),
    ),
    MetricDefinition(
        "vertexops_reconcile_duration_seconds",
        "histogram",
        "Time one reconcile took, by kind.",
        ("kind",),
        _LATENCY_BUCKETS,
    ),
    MetricDefinition("vertexops_workqueue_depth", "gauge", "Keys waiting for a worker, by queue.", ("name",)),
    MetricDefinition(
        "vertexops_workqueue_adds_total",
        "counter",
        "Keys added to the queue (duplicates of a waiting key are not counted), by queue.",
        ("name",),
    ),
    MetricDefinition(
        "vertexops_workqueue_retries_total",
        "counter",
        "Keys put back with a backoff delay after a failed reconcile, by queue.",
        ("name",),
    ),
    MetricDefinition(
        "vertexops_workqueue_queue_duration_seconds",
        "histogram",
        "Time a key waited in the queue before a worker took it, by queue.",
        ("name",),
        _QUEUE_BUCKETS,
    ),
    MetricDefinition(
        "vertexops_workqueue_work_duration_seconds",
        "histogram",
        "Time a worker held a key, by queue.",
        ("name",),
        _QUEUE_BUCKETS,
    ),
    MetricDefinition(
        "vertexops_workqueue_longest_running_processor_seconds",
        "gauge",
        "How long the longest-running reconcile in progress has been running, by queue; a value that only "
        "grows points at a stuck reconcile.",
        ("name",),
    ),
    MetricDefinition(
        "vertexops_workqueue_unfinished_work_seconds",
        "gauge",
        "Sum of the running times of all reconciles in progress, by queue.",
        ("name",),
    ),
    MetricDefinition(
        "vertexops_google_api_requests_total",
        "counter",
        'Calls to Google APIs, by API, method and HTTP status code ("error" when no answer arrived).',
        ("api", "method", "code"),
    ),
    MetricDefinition(
        "vertexops_google_api_request_duration_seconds",
        "histogram",
        "Latency of calls to Google APIs, by API and method.",
        ("api", "method"),
        _LATENCY_BUCKETS,
    ),
    MetricDefinition(
        "vertexops_jobs",
        "gauge",
        "Resources by kind and job state as last observed (e.g. JOB_STATE_RUNNING); each resource counts "
        "in exactly one state.",
        ("kind", "state"),
    ),
    MetricDefinition(
        "vertexops_tuning_train_loss",
        "gauge",
        "Latest training loss reported for the resource's tuning job.",
        ("kind", "namespace", "name"),
    ),
    MetricDefinition(
        "vertexops_tuning_validation_loss",
        "gauge",
        "Latest validation loss reported for the resource's tuning job.",
        ("kind", "namespace", "name"),
    ),
    MetricDefinition(
        "vertexops_leader_election_leading",
        "gauge",
        "1 while this replica holds the leader lease and reconciles, else 0.",
    ),
    MetricDefinition(
        "vertexops_informer_relists_total",
        "counter",
        "Full lists of a resource: the first one, and one after every 410 Gone (watch history expired).",
        ("resource",),
    ),
    MetricDefinition(
        "vertexops_informer_watch_restarts_total",
        "counter",
        "Watches started again, by resource and reason: timeout (normal server-side end), gone (410), "
        "error (connection or API error).",
        ("resource", "reason"),
    ),
    MetricDefinition(
        "vertexops_informer_events_total",
        "counter",
        "Changes delivered by informers, by resource and type (ADDED, MODIFIED, DELETED).",
        ("resource", "type"),
    ),
)

_BY_NAME = {definition.name: definition for definition in METRICS}


def catalogue_markdown() -> str:
    """The metric catalogue as a Markdown table, for the user docs and dashboard generation."""
    lines = ["| metric | type | labels | meaning |", "|---|---|---|---|"]
    for d in METRICS:
        labels = ", ".join(f"`{label}`" for label in d.labels) or "none"
        lines.append(f"| `{d.name}` | {d.type} | {labels} | {d.help} |")
    return "\n".join(lines) + "\n"


ReconcileResult = Literal["success", "error", "requeue"]
ResourceId = tuple[str, str, str]  # kind, namespace, name


class QueueSource(Protocol):
    """What the scrape-time gauges read from a work queue."""

    def __len__(self) -> int: ...

    def processing_seconds(self) -> list[float]: ...


def _family(name: str) -> GaugeMetricFamily:
    definition = _BY_NAME[name]
    return GaugeMetricFamily(name, definition.help, labels=list(definition.labels))


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._lock = threading.Lock()
        self._job_states: dict[ResourceId, str] = {}
        self._losses: dict[ResourceId, tuple[float | None, float | None]] = {}
        self._queues: dict[str, QueueSource] = {}

        def counter(name: str) -> Counter:
            d = _BY_NAME[name]
            return Counter(name, d.help, d.labels, registry=self.registry)

        def histogram(name: str) -> Histogram:
            d = _BY_NAME[name]
            return Histogram(name, d.help, d.labels, registry=self.registry, buckets=d.buckets)

        self.reconcile_total = counter("vertexops_reconcile_total")
        self.reconcile_duration = histogram("vertexops_reconcile_duration_seconds")
        self.queue_adds = counter("vertexops_workqueue_adds_total")
        self.queue_retries = counter("vertexops_workqueue_retries_total")
        self.queue_duration = histogram("vertexops_workqueue_queue_duration_seconds")
        self.work_duration = histogram("vertexops_workqueue_work_duration_seconds")
        self.google_requests = counter("vertexops_google_api_requests_total")
        self.google_duration = histogram("vertexops_google_api_request_duration_seconds")
        self.relists = counter("vertexops_informer_relists_total")
        self.watch_restarts = counter("vertexops_informer_watch_restarts_total")
        self.informer_events = counter("vertexops_informer_events_total")
        leading = _BY_NAME["vertexops_leader_election_leading"]
        self.leading = Gauge(leading.name, leading.help, registry=self.registry)
        self.registry.register(_ScrapeTimeCollector(self))

    # -- exposition ----------------------------------------------------------------------------------------

    content_type = CONTENT_TYPE_LATEST

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format, as served on /metrics."""
        return generate_latest(self.registry)

    # -- reconciles and queues -----------------------------------------------------------------------------

    def observe_reconcile(self, kind: str, result: ReconcileResult, seconds: float) -> None:
        self.reconcile_total.labels(kind, result).inc()
        self.reconcile_duration.labels(kind).observe(seconds)

    def register_queue(self, name: str, queue: QueueSource) -> None:
        """Expose the queue's depth and in-progress times, read at each scrape."""
        with self._lock:
            self._queues[name] = queue

    def queue_observer(self, name: str) -> QueueObserver:
        """The hooks a `WorkQueue` named `name` calls on add, retry, take and finish."""
        return QueueObserver(self, name)

    # -- Google API calls ----------------------------------------------------------------------------------

    def observe_google_call(self, api: str, method: str, status_code: int | None, seconds: float) -> None:
        """Record one call to a Google API; `status_code` None means no HTTP answer (timeout, refused)."""
        code = "error" if status_code is None else str(status_code)
        self.google_requests.labels(api, method, code).inc()
        self.google_duration.labels(api, method).observe(seconds)

    # -- per-resource values -------------------------------------------------------------------------------

    def set_job_state(self, kind: str, namespace: str, name: str, state: str) -> None:
        with self._lock:
            self._job_states[(kind, namespace, name)] = state

    def set_losses(
        self, kind: str, namespace: str, name: str, train: float | None, validation: float | None
    ) -> None:
        """Record the latest losses; None leaves that series out (e.g. a job without validation data)."""
        with self._lock:
            self._losses[(kind, namespace, name)] = (train, validation)

    def forget_resource(self, kind: str, namespace: str, name: str) -> None:
        """Drop every per-resource series of a deleted resource."""
        with self._lock:
            self._job_states.pop((kind, namespace, name), None)
            self._losses.pop((kind, namespace, name), None)

    # -- leader election and informers ---------------------------------------------------------------------

    def set_leading(self, leading: bool) -> None:
        self.leading.set(1 if leading else 0)

    def relisted(self, resource: str) -> None:
        self.relists.labels(resource).inc()

    def watch_restarted(self, resource: str, reason: str) -> None:
        self.watch_restarts.labels(resource, reason).inc()

    def informer_event(self, resource: str, event_type: str) -> None:
        self.informer_events.labels(resource, event_type).inc()

    # -- scrape time ---------------------------------------------------------------------------------------

    def _scrape(self) -> Iterator[Metric]:
        with self._lock:
            states = Tally((kind, state) for (kind, _, _), state in self._job_states.items())
            losses = dict(self._losses)
            queues = dict(self._queues)
        jobs = _family("vertexops_jobs")
        for (kind, state), count in sorted(states.items()):
            jobs.add_metric([kind, state], count)
        yield jobs
        train = _family("vertexops_tuning_train_loss")
        validation = _family("vertexops_tuning_validation_loss")
        for (kind, namespace, name), (train_loss, validation_loss) in sorted(losses.items()):
            if train_loss is not None:
                train.add_metric([kind, namespace, name], train_loss)
            if validation_loss is not None:
                validation.add_metric([kind, namespace, name], validation_loss)
        yield train
        yield validation
        depth = _family("vertexops_workqueue_depth")
        longest = _family("vertexops_workqueue_longest_running_processor_seconds")
        unfinished = _family("vertexops_workqueue_unfinished_work_seconds")
        for name, queue in sorted(queues.items()):
            running = queue.processing_seconds()
            depth.add_metric([name], len(queue))
            longest.add_metric([name], max(running, default=0.0))
            unfinished.add_metric([name], sum(running))
        yield depth
        yield longest
        yield unfinished


class QueueObserver:
    """Binds a queue's name to its metric children once, so the queue's hot path does no label lookups."""

    def __init__(self, metrics: Metrics, name: str) -> None:
        self._adds = metrics.queue_adds.labels(name)
        self._retries = metrics.queue_retries.labels(name)
        self._queue_duration = metrics.queue_duration.labels(name)
        self._work_duration = metrics.work_duration.labels(name)

    def added(self) -> None:
        self._adds.inc()

    def retried(self) -> None:
        self._retries.inc()

    def started(self, waited_seconds: float) -> None:
        self._queue_duration.observe(waited_seconds)

    def finished(self, worked_seconds: float) -> None:
        self._work_duration.observe(worked_seconds)


class _ScrapeTimeCollector:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics._scrape()

    def describe(self) -> Iterable[Metric]:
        names = (
            "vertexops_jobs",
            "vertexops_tuning_train_loss",
            "vertexops_tuning_validation_loss",
            "vertexops_workqueue_depth",
            "vertexops_workqueue_longest_running_processor_seconds",
            "vertexops_workqueue_unfinished_work_seconds",
        )
        return [_family(name) for name in names]
