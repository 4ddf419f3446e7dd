"""A job's training history, read on demand from Google (never stored in the resource's status).

Status keeps only the latest values (`latestMetrics`); a history of hundreds of points per job would make
every status write heavier, bloat etcd and what GitOps tools diff, and still be a copy of what Google keeps.
So `watch` reads the curves where the Google console reads them: a Vertex job's TensorBoard time series
(found the way the operator finds them, `metrics_reader.resolve_job_series`), a Gemini API model's
`tuningTask.snapshots`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.google.gemini import GeminiClient
from controller.google.metrics_reader import BATCH_READ_LIMIT, JobSeries, refresh_series, resolve_job_series
from controller.google.models_vertex import (
    EVAL_ACCURACY,
    EVAL_TOTAL_LOSS,
    TRAIN_ACCURACY,
    TRAIN_TOTAL_LOSS,
    TuningJob,
)
from controller.google.vertex import VertexClient

#: The curves `watch` draws, by the series' TensorBoard display name.
CURVES = (TRAIN_TOTAL_LOSS, EVAL_TOTAL_LOSS, TRAIN_ACCURACY, EVAL_ACCURACY)


@dataclass(frozen=True)
class Point:
    step: int
    value: float
    time: datetime | None = None


@dataclass
class History:
    """Points by metric display name (`/train_total_loss`, ...), oldest first."""

    curves: dict[str, list[Point]] = field(default_factory=dict)

    def latest(self, name: str) -> Point | None:
        points = self.curves.get(name) or []
        return points[-1] if points else None

    def pace_seconds_per_step(self) -> float | None:
        """Seconds per training step over the points seen, from Google's own timestamps."""
        for points in self.curves.values():
            timed = [p for p in points if p.time is not None]
            if len(timed) >= 2 and timed[-1].step > timed[0].step:
                first, last = timed[0], timed[-1]
                assert first.time is not None and last.time is not None
                return (last.time - first.time).total_seconds() / (last.step - first.step)
        return None


class VertexHistory:
    """Reads one job's curves; the TensorBoard path is resolved once and kept, as the operator does."""

    def __init__(self, client: VertexClient, job_name: str, experiment: str | None) -> None:
        self._client = client
        self._job = TuningJob.model_validate({"name": job_name, "experiment": experiment or ""})
        self._series: JobSeries | None = None

    def read(self) -> History:
        if self._series is None:
            self._series = resolve_job_series(self._client, self._job)
            if self._series is None:
                return History()
        elif not set(CURVES) <= set(self._series.series.values()):
            self._series = refresh_series(self._client, self._series)  # eval series appear later
        wanted = [name for name, display in sorted(self._series.series.items()) if display in CURVES]
        history = History()
        for start in range(0, len(wanted), BATCH_READ_LIMIT):
            batch = wanted[start : start + BATCH_READ_LIMIT]
            by_id = {name.rsplit("/", 1)[-1]: self._series.series[name] for name in batch}
            for data in self._client.batch_read_time_series(self._series.tensorboard, batch):
                display = by_id.get(str(data.get("tensorboardTimeSeriesId", "")))
                if display:
                    history.curves[display] = _points(data.get("values"))
        return history


def gemini_history(client: GeminiClient, name: str) -> History:
    model = client.get_tuned_model(name)
    snapshots = model.tuning_task.snapshots if model.tuning_task else []
    points = [Point(s.step, float(s.mean_loss), s.compute_time) for s in snapshots if s.mean_loss is not None]
    return History({TRAIN_TOTAL_LOSS: sorted(points, key=lambda p: p.step)} if points else {})


def _points(values: Any) -> list[Point]:
    out = []
    for value in values if isinstance(values, list) else []:
        if not isinstance(value, dict) or not isinstance(value.get("scalar"), dict):
            continue
        try:
            step = int(value.get("step", 0))
            number = float(value["scalar"].get("value", 0.0))
        except (TypeError, ValueError):
            continue
        wall = value.get("wallTime")
        when = None
        if isinstance(wall, str):
            try:
                when = datetime.fromisoformat(wall.replace("Z", "+00:00"))
            except ValueError:
                when = None
        out.append(Point(step, number, when))
    return sorted(out, key=lambda p: p.step)
