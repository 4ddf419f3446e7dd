"""Reading a tuning job's training and validation metrics from its experiment's TensorBoard.

Vertex has no "get metrics" call. The Vertex SDK's tuning notebooks take this path, which we follow over
REST: the job's `experiment` Context -> its `metadata.backing_tensorboard_resource` -> the ExperimentRun
Context under it -> the TensorBoard run's time series -> `batchRead`. Each step may come back empty while a
job is young; an empty `TuningMetrics` is a normal answer, not an error.
"""

from __future__ import annotations

from typing import Any, Protocol

from controller.google.errors import NotFoundError
from controller.google.models_vertex import TUNING_METRIC_NAMES, MetricPoint, TuningJob, TuningMetrics

BATCH_READ_LIMIT = 20


class _MetricsApi(Protocol):
    def get_context(self, name: str) -> dict[str, Any]: ...

    def list_contexts(self, metadata_store: str, *, filter: str | None = None) -> list[dict[str, Any]]: ...

    def list_time_series(self, tensorboard_run: str) -> list[dict[str, Any]]: ...

    def batch_read_time_series(self, tensorboard: str, time_series: list[str]) -> list[dict[str, Any]]: ...


def read_tuning_metrics(api: _MetricsApi, job: TuningJob) -> TuningMetrics:
    """The latest point of each metric in `TUNING_METRIC_NAMES` that the job has logged."""
    experiment = job.experiment
    if not experiment or "/contexts/" not in experiment:
        return TuningMetrics()
    context = api.get_context(experiment)
    metadata = context.get("metadata")
    tensorboard = metadata.get("backing_tensorboard_resource") if isinstance(metadata, dict) else None
    if not isinstance(tensorboard, str) or not tensorboard:
        return TuningMetrics(experiment=experiment)

    metadata_store, experiment_id = experiment.rsplit("/contexts/", 1)
    runs = api.list_contexts(
        metadata_store,
        filter=f'schema_title="system.ExperimentRun" AND parent_contexts:"{experiment}"',
    )
    if not runs:
        return TuningMetrics(experiment=experiment)
    run_context_id = str(runs[0].get("name", "")).rsplit("/", 1)[-1]
    if not run_context_id:
        return TuningMetrics(experiment=experiment)

    run_name, series = _find_run_series(api, tensorboard, experiment_id, run_context_id)
    if run_name is None:
        return TuningMetrics(experiment=experiment)

    wanted = {
        str(s["name"]): str(s.get("displayName", ""))
        for s in series
        if s.get("displayName") in TUNING_METRIC_NAMES and isinstance(s.get("name"), str)
    }
    by_id = {name.rsplit("/", 1)[-1]: display for name, display in wanted.items()}
    latest: dict[str, MetricPoint] = {}
    names = sorted(wanted)
    for start in range(0, len(names), BATCH_READ_LIMIT):
        for data in api.batch_read_time_series(tensorboard, names[start : start + BATCH_READ_LIMIT]):
            display = by_id.get(str(data.get("tensorboardTimeSeriesId", "")))
            point = _latest_point(data.get("values"))
            if display and point is not None:
                latest[display] = point
    return TuningMetrics(experiment=experiment, tensorboard_run=run_name, latest=latest)


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
