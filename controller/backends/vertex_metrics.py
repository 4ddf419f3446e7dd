"""Training metrics of all running jobs of a location, refreshed together.

Reading one job's metrics from scratch takes four calls (experiment, run, series, data). The first three
never change for a job, so they are made once per job; the data of every running job in a location is then
refreshed in shared `batchRead` calls (up to 20 series each) at most once per `max_age`.

A job's series appear as it logs them: the training ones with its first steps, the evaluation ones only at
its first evaluation, which may be hours into the job. While some are missing the series are listed again,
but each look that finds nothing new doubles the wait before the next (from `max_age` up to
`SERIES_LOOKUP_MAX_WAITS` times it), so a long job waiting for its first evaluation costs a few list calls,
not one per refresh; the training metrics are read at every refresh meanwhile. A job's values
carry the time they were actually read, so an unchanged value does not rewrite the resource's status.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from controller.google.metrics_reader import JobSeries, read_latest, refresh_series, resolve_job_series
from controller.google.models_common import deflate, inflate
from controller.google.models_vertex import TuningJob, TuningMetrics
from controller.google.vertex import VertexClient


@dataclass(frozen=True)
class MetricsReading:
    metrics: TuningMetrics
    read_at: datetime


# The longest wait between two looks for a job's missing series, in refresh intervals (`max_age`).
SERIES_LOOKUP_MAX_WAITS = 8


@dataclass(frozen=True)
class _Lookup:
    at: float  # when the series were last looked up
    wait: float  # how long after that the next look may be


@dataclass
class _Group:
    members: dict[str, JobSeries] = field(default_factory=dict)
    fetched_at: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


class MetricsPoller:
    def __init__(
        self,
        client: VertexClient,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, str], _Group] = {}
        self._series: dict[str, JobSeries] = {}
        # job -> (its latest metrics as deflated JSON, when first read with those values): parsed when asked,
        # as a parsed reading of six series takes about 3 KB and an operator may follow 10,000 jobs.
        self._latest: dict[str, tuple[bytes, datetime]] = {}
        self._lookups: dict[str, _Lookup] = {}  # job -> the last look-up of its series, while incomplete

    def latest(self, project: str, location: str, job: TuningJob, max_age: float) -> MetricsReading | None:
        """A running job's metrics as of a read no older than `max_age` seconds (None: nothing logged yet)."""
        series = self._resolve(job, max_age)
        if series is None:
            return None
        group = self._group(project, location)
        with group.lock:
            group.members[job.name] = series
            if self._clock() - group.fetched_at > max_age:
                started = self._clock()
                self._store(read_latest(self._client, list(group.members.values())))
                group.fetched_at = started
            elif not self._has_reading(job.name):
                # Joined since the last refresh: read this one alone rather than wait for the next.
                self._store(read_latest(self._client, [series]))
        return self._reading(job.name)

    def final(self, project: str, location: str, job: TuningJob) -> MetricsReading | None:
        """One last read of a job that has ended; it then leaves the location's refreshes."""
        series = self._resolve(job, max_age=0.0, force=True)
        if series is None:
            return None
        self._store(read_latest(self._client, [series]), fresh=True)
        reading = self._reading(job.name)
        self.forget(job.name, project, location)
        return reading

    def forget(self, job_name: str, project: str, location: str) -> None:
        group = self._group(project, location)
        with group.lock:
            group.members.pop(job_name, None)
        with self._lock:
            self._series.pop(job_name, None)
            self._latest.pop(job_name, None)
            self._lookups.pop(job_name, None)

    def _reading(self, job_name: str) -> MetricsReading | None:
        with self._lock:
            stored = self._latest.get(job_name)
        if stored is None:
            return None
        return MetricsReading(inflate(TuningMetrics, stored[0]), stored[1])

    def _has_reading(self, job_name: str) -> bool:
        with self._lock:
            return job_name in self._latest

    def _resolve(self, job: TuningJob, max_age: float, *, force: bool = False) -> JobSeries | None:
        """The job's series; looked up (again) while none or not all exist yet, backing off while each look
        finds nothing new (`force`: look now, for the last read of a job that has ended)."""
        with self._lock:
            known = self._series.get(job.name)
            last = self._lookups.get(job.name)
        if known is not None and len(known.series) >= _expected_series(job):
            return known
        now = self._clock()
        if not force and last is not None and now - last.at <= max(max_age, last.wait):
            return known
        before = len(known.series) if known else 0
        resolved = refresh_series(self._client, known) if known else resolve_job_series(self._client, job)
        found = len(resolved.series) if resolved else 0
        if last is None or found > before:
            wait = max_age
        else:
            wait = min(2 * max(last.wait, max_age), SERIES_LOOKUP_MAX_WAITS * max_age)
        with self._lock:
            self._lookups[job.name] = _Lookup(now, wait)
            if resolved is not None:
                self._series[job.name] = resolved
        return resolved

    def _group(self, project: str, location: str) -> _Group:
        with self._lock:
            return self._groups.setdefault((project, location), _Group())

    def _store(self, readings: dict[str, TuningMetrics], fresh: bool = False) -> None:
        """Keep the readings; an unchanged value keeps the time it was first read unless `fresh`."""
        now = self._now()
        encoded = {name: deflate(m) for name, m in readings.items()}
        with self._lock:
            for name, data in encoded.items():
                previous = self._latest.get(name)
                if fresh or previous is None or previous[0] != data:
                    self._latest[name] = (data, now)


def _expected_series(job: TuningJob) -> int:
    """Three training series always; three evaluation series more when the job has validation data."""
    spec = job.supervised_tuning_spec
    return 6 if spec is not None and spec.validation_dataset_uri else 3
