"""Reading a tuning job's training and validation metrics from its experiment's TensorBoard.

Vertex has no "get metrics" call. The Vertex SDK's tuning notebooks take this path, which we follow over
REST: the job's `experiment` Context -> its `metadata.backing_tensorboard_resource` -> the ExperimentRun
Context under it -> the TensorBoard run's time series -> `batchRead`. Each step may come back empty while a
job is young; an empty `TuningMetrics` is a normal answer, not an error.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from controller.google.errors import NotFoundError
from controller.google.models_vertex import TUNING_METRIC_NAMES, MetricPoint, TuningJob, TuningMetrics

BATCH_READ_LIMIT = 20


class _MetricsApi(Protocol):
    def get_context(self, name: str) -> dict[str, Any]: ...

    def list_contexts(self, metadata_store: str, *, filter: str | None = None) -> list[dict[str, Any]]: ...

    def list_time_series(self, tensorboard_run: str) -> list[dict[str, Any]]: ...

    def batch_read_time_series(self, tensorboard: str, time_series: list[str]) -> list[dict[str, Any]]: ...


class JobSeries:
    """Where one job's metrics live: resolved once, then read as often as wanted with `read_latest`.

    Kept for every running job, so held compactly: the series by their id under the run (their full
    names repeat the run's, some 200 characters each) and the names shared by every job interned.
    """

    __slots__ = ("_ids", "experiment", "job", "run", "tensorboard")

    def __init__(
        self, job: str, experiment: str, tensorboard: str, run: str, series: Mapping[str, str]
    ) -> None:
        self.job = job
        self.experiment = experiment
        self.tensorboard = sys.intern(tensorboard)
        self.run = run
        prefix = run + _SERIES_UNDER_RUN
        self._ids = tuple(
            sorted(
                (name.removeprefix(prefix) if name.startswith(prefix) else name, sys.intern(display))
                for name, display in series.items()
            )
        )

    @property
    def series(self) -> dict[str, str]:
        """Time series resource name -> display name ("/train_total_loss", ...)."""
        prefix = self.run + _SERIES_UNDER_RUN
        return {(key if "/" in key else prefix + key): display for key, display in self._ids}

    def _fields(self) -> tuple[object, ...]:
        return (self.job, self.experiment, self.tensorboard, self.run, self._ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JobSeries) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"JobSeries(job={self.job!r}, run={self.run!r}, series={len(self._ids)})"


_SERIES_UNDER_RUN = "/timeSeries/"


def resolve_job_series(api: _MetricsApi, job: TuningJob) -> JobSeries | None:
    """Follow experiment -> TensorBoard -> run -> time series; None while the job has logged nothing yet.

    Three calls; the result does not change for the life of a job, so callers keep it.
    """
    experiment = job.experiment
    if not experiment or "/contexts/" not in experiment:
        return None
    context = api.get_context(experiment)
    metadata = context.get("metadata")
    tensorboard = metadata.get("backing_tensorboard_resource") if isinstance(metadata, dict) else None
    if not isinstance(tensorboard, str) or not tensorboard:
        return None
    metadata_store, experiment_id = experiment.rsplit("/contexts/", 1)
    runs = api.list_contexts(
        metadata_store,
        filter=f'schema_title="system.ExperimentRun" AND parent_contexts:"{experiment}"',
    )
    if not runs:
        return None
    run_context_id = str(runs[0].get("name", "")).rsplit("/", 1)[-1]
    if not run_context_id:
        return None
    run_name, series = _find_run_series(api, tensorboard, experiment_id, run_context_id)
    wanted = {
        str(s["name"]): str(s.get("displayName", ""))
        for s in series
        if s.get("displayName") in TUNING_METRIC_NAMES and isinstance(s.get("name"), str)
    }
    if run_name is None or not wanted:
        return None
    return JobSeries(job.name, experiment, tensorboard, run_name, wanted)


def refresh_series(api: _MetricsApi, job: JobSeries) -> JobSeries:
    """List the run's time series again: series appear one by one as a job logs them (eval ones later)."""
    series = api.list_time_series(job.run)
    wanted = {
        str(s["name"]): str(s.get("displayName", ""))
        for s in series
        if s.get("displayName") in TUNING_METRIC_NAMES and isinstance(s.get("name"), str)
    }
    return JobSeries(job.job, job.experiment, job.tensorboard, job.run, wanted or job.series)


def read_latest(api: _MetricsApi, jobs: Sequence[JobSeries]) -> dict[str, TuningMetrics]:
    """The latest point of every series of `jobs`, by job name, in as few `batchRead` calls as possible.

    Series of one TensorBoard are read together, up to `BATCH_READ_LIMIT` per call, across jobs. The answer
    names each series only by its id (the last segment of its name), so a call never carries two series
    with the same id.
    """
    by_tensorboard: dict[str, list[tuple[str, JobSeries]]] = {}
    for job in jobs:
        for name in sorted(job.series):
            by_tensorboard.setdefault(job.tensorboard, []).append((name, job))
    latest: dict[str, dict[str, MetricPoint]] = {job.job: {} for job in jobs}
    for tensorboard, entries in by_tensorboard.items():
        for batch in _batches(entries):
            by_id = {name.rsplit("/", 1)[-1]: (name, job) for name, job in batch}
            for data in api.batch_read_time_series(tensorboard, [name for name, _ in batch]):
                found = by_id.get(str(data.get("tensorboardTimeSeriesId", "")))
                point = _latest_point(data.get("values"))
                if found is not None and point is not None:
                    name, job = found
                    latest[job.job][job.series[name]] = point
    return {
        job.job: TuningMetrics(experiment=job.experiment, tensorboard_run=job.run, latest=latest[job.job])
        for job in jobs
    }


def _batches(entries: list[tuple[str, JobSeries]]) -> list[list[tuple[str, JobSeries]]]:
    batches: list[list[tuple[str, JobSeries]]] = []
    current: list[tuple[str, JobSeries]] = []
    ids: set[str] = set()
    for name, job in entries:
        series_id = name.rsplit("/", 1)[-1]
        if len(current) == BATCH_READ_LIMIT or series_id in ids:
            batches.append(current)
            current, ids = [], set()
        current.append((name, job))
        ids.add(series_id)
    if current:
        batches.append(current)
    return batches


def read_tuning_metrics(api: _MetricsApi, job: TuningJob) -> TuningMetrics:
    """The latest point of each metric in `TUNING_METRIC_NAMES` that the job has logged."""
    resolved = resolve_job_series(api, job)
    if resolved is None:
        return TuningMetrics(experiment=job.experiment if job.experiment else None)
    return read_latest(api, [resolved])[job.name]


def _find_run_series(
    api: _MetricsApi, tensorboard: str, experiment_id: str, run_context_id: str
) -> tuple[str | None, list[dict[str, Any]]]:
    """The TensorBoard run of an ExperimentRun Context, and its time series.

    The SDK names run contexts `{experiment}-{run}`, so the run id is the context id without that prefix;
    some notebooks use the full context id instead, so both are tried.
    """
    candidates = []
    prefix = f"{experiment_id}-"
    if run_context_id.startswith(prefix):
        candidates.append(run_context_id[len(prefix) :])
    candidates.append(run_context_id)
    for run_id in candidates:
        run_name = f"{tensorboard}/experiments/{experiment_id}/runs/{run_id}"
        try:
            return run_name, api.list_time_series(run_name)
        except NotFoundError:
            continue
    return None, []


def _latest_point(values: object) -> MetricPoint | None:
    """The point with the highest step among scalar `values`."""
    if not isinstance(values, list):
        return None
    best: MetricPoint | None = None
    for value in values:
        if not isinstance(value, dict) or not isinstance(value.get("scalar"), dict):
            continue
        try:
            step = int(value.get("step", 0))
            number = float(value["scalar"].get("value", 0.0))
        except (TypeError, ValueError):
            continue
        if best is None or step >= best.step:
            wall = value.get("wallTime")
            best = MetricPoint.model_validate(
                {"step": step, "value": number, "wallTime": wall if isinstance(wall, str) else None}
            )
    return best
