"""One `tuningJobs.list` per project and location per interval, instead of one `get` per job.

Tuning jobs run for hours and an operator may follow hundreds of them. Each reconcile asks the poller for
its job with the freshness it needs (`max_age`); the poller answers from the last list of that location when
it is fresh enough, and otherwise lists again, once, while concurrent callers for the same location wait
for that one call. So the number of Google calls grows with the number of locations, not of jobs.

Only jobs carrying the operator's `managed-by` label are listed, which keeps the pages small in a project
that also runs other tuning jobs (the client filters again if the server ignores the filter).

The listing goes through v1beta1, not v1: the same paths and jobs, plus `tuningJobState` (waiting for quota,
processing the dataset, waiting for capacity, tuning, post-processing) and `tuningJobMetadata` (completed
epochs). Reading those per job with a `get` would cost one call per running job per interval; through the
listing the operator already makes they cost none. Everything else is still read and written through v1.

The same listing answers "is there already a job for this resource?" (`find`, by the UID or identity label)
before a create, so looking for a job to adopt costs no Google call of its own: a burst of new resources in
one location shares one list per interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.backends.remote_identity import IDENTITY_LABEL
from controller.google.models_common import deflate, inflate
from controller.google.models_vertex import TuningJob
from controller.google.vertex import VertexClient

MANAGED_BY_LABEL = "vertexops-managed-by"  # inside the prefix the CRD reserves for the operator
MANAGED_BY_VALUE = "vertexops"
UID_LABEL = "vertexops-uid"
# The API version of the listing: see the module docstring.
LIST_API_VERSION = "v1beta1"


@dataclass
class _LocationSnapshot:
    # Each job as compact JSON, deflated, parsed when asked for: a parsed job takes about 5 KB, its JSON
    # about 1 KB (half that deflated), and an operator following 10,000 jobs holds all of them between two
    # lists.
    jobs: dict[str, bytes] = field(default_factory=dict)
    by_label: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # -> job names
    fetched_at: float = float("-inf")
    # Wall-clock time (UNIX seconds) when the last list started: what a job found missing is missing since.
    listed_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


def _add_to_index(by_label: dict[tuple[str, str], list[str]], job: TuningJob) -> None:
    """Index (or re-index) one job by its UID and identity labels; a job's labels never change."""
    for label in (UID_LABEL, IDENTITY_LABEL):
        value = job.labels.get(label)
        if value:
            names = by_label.setdefault((label, value), [])
            if job.name not in names:
                names.append(job.name)


class LocationPoller:
    def __init__(self, client: VertexClient, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._snapshots: dict[tuple[str, str], _LocationSnapshot] = {}
        self._lock = threading.Lock()

    def _snapshot(self, project: str, location: str) -> _LocationSnapshot:
        with self._lock:
            return self._snapshots.setdefault((project, location), _LocationSnapshot())

    def get(self, project: str, location: str, name: str, max_age: float) -> TuningJob | None:
        """The job as of a list no older than `max_age` seconds; None when that list did not contain it."""
        snapshot = self._fresh(project, location, max_age)
        with snapshot.lock:
            data = snapshot.jobs.get(name)
        return None if data is None else inflate(TuningJob, data)

    def find(
        self, project: str, location: str, label: str, value: str, max_age: float
    ) -> tuple[list[TuningJob], float]:
        """The listed jobs carrying `label=value`, as of a list no older than `max_age` seconds, and the
        wall-clock time that list started (a job it lacks did not exist then)."""
        snapshot = self._fresh(project, location, max_age)
        with snapshot.lock:
            found = [snapshot.jobs[name] for name in snapshot.by_label.get((label, value), ())]
            listed_at = snapshot.listed_at
        return [inflate(TuningJob, data) for data in found], listed_at

    def _fresh(self, project: str, location: str, max_age: float) -> _LocationSnapshot:
        snapshot = self._snapshot(project, location)
        with snapshot.lock:
            if self._clock() - snapshot.fetched_at > max_age:
                started = self._clock()
                listed_at = time.time()
                jobs: dict[str, bytes] = {}
                by_label: dict[tuple[str, str], list[str]] = {}
                for job in self._client.iter_tuning_jobs_by_labels(
                    project, location, {MANAGED_BY_LABEL: MANAGED_BY_VALUE}, version=LIST_API_VERSION
                ):
                    jobs[job.name] = deflate(job)
                    _add_to_index(by_label, job)
                snapshot.jobs, snapshot.by_label = jobs, by_label
                snapshot.fetched_at = started
                snapshot.listed_at = listed_at
        return snapshot

    def remember(self, project: str, location: str, job: TuningJob) -> None:
        """Put a job read by other means (create, get) into its location's snapshot.

        Keyed by the project as the spec names it: Vertex returns the project *number* in job names.
        """
        snapshot = self._snapshot(project, location)
        data = deflate(job)
        with snapshot.lock:
            snapshot.jobs[job.name] = data
            _add_to_index(snapshot.by_label, job)
