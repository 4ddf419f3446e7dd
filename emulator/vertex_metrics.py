"""The metadata store and TensorBoard behind a tuning job's metrics (API-NOTES §B.3).

Each job that has started owns an experiment Context (`tuning-experiment-{job}`) backed by its location's
TensorBoard, one ExperimentRun Context under it, and scalar time series whose points are computed on demand
from the job's progress: losses fall smoothly from about 2.5, accuracy rises, both with small deterministic
noise. Nothing is stored per point, so memory does not grow with steps.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.apierror import invalid_argument, not_found
from emulator.clock import rfc3339
from emulator.paging import decode_token, encode_token, page_size
from emulator.vertex_jobs import BATCH_SIZE, FAILED, SUCCEEDED, Job, VertexJobs, phase_at

RUN_ID = "tuning-run"
MAX_POINTS = 1000
_MASK = (1 << 64) - 1


def tensorboard_id(project_number: str, location: str) -> str:
    """One TensorBoard per project and location, with a stable 19-digit id."""
    return str(10**18 + (zlib.crc32(f"{project_number}/{location}".encode()) * 2654435761) % (8 * 10**18))


def _noise(seed: int, series: int, step: int) -> float:
    """A repeatable pseudo-random number in [0, 1) (splitmix64 of the inputs)."""
    x = (seed * 0x9E3779B97F4A7C15 + series * 0xBF58476D1CE4E5B9 + step * 0x94D049BB133111EB) & _MASK
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & _MASK
    x ^= x >> 29
    return x / float(1 << 64)


def _decay(progress: float, rate: float) -> float:
    return math.exp(-rate * progress)


@dataclass(frozen=True)
class _Series:
    series_id: str
    display_name: str
    evaluation: bool
    value: Callable[[Job, int, float], float]


SERIES: tuple[_Series, ...] = (
    _Series(
        "1001",
        "/train_total_loss",
        False,
        lambda j, s, n: 0.25 + 2.25 * _decay(s / j.total_steps, 3.0) + 0.06 * (n - 0.5),
    ),
    _Series(
        "1002",
        "/train_fraction_of_correct_next_step_preds",
        False,
        lambda j, s, n: min(0.99, 0.35 + 0.55 * (1 - _decay(s / j.total_steps, 3.0)) + 0.03 * (n - 0.5)),
    ),
    _Series("1003", "/train_num_predictions", False, lambda j, s, n: float(BATCH_SIZE * (180 + int(n * 40)))),
    _Series(
        "1004",
        "/eval_total_loss",
        True,
        lambda j, s, n: 0.32 + 2.2 * _decay(s / j.total_steps, 2.8) + 0.04 * (n - 0.5),
    ),
    _Series(
        "1005",
        "/eval_fraction_of_correct_next_step_preds",
        True,
        lambda j, s, n: min(0.99, 0.33 + 0.52 * (1 - _decay(s / j.total_steps, 2.8)) + 0.02 * (n - 0.5)),
    ),
    _Series(
        "1006",
        "/eval_num_predictions",
        True,
        lambda j, s, n: float(min(j.example_count, 256) * 190 + int(n * 100)),
    ),
)
_SERIES_BY_ID = {s.series_id: (index, s) for index, s in enumerate(SERIES)}


def _eval_every(job: Job) -> int:
    return max(1, job.total_steps // 10)


def _steps(job: Job, series: _Series, now: float) -> list[int]:
    """The steps at which `series` has a point by `now`."""
    done = phase_at(job, now).step
    if not series.evaluation:
        return list(range(1, done + 1))
    every = _eval_every(job)
    return list(range(every, done + 1, every))


def _points(job: Job, series: _Series, now: float, limit: int) -> list[dict[str, Any]]:
    steps = _steps(job, series, now)
    if 0 < limit < len(steps):
        stride = len(steps) / limit
        picked = sorted({steps[min(len(steps) - 1, int(i * stride))] for i in range(limit - 1)} | {steps[-1]})
        steps = picked
    seed = int(job.job_id)
    index = _SERIES_BY_ID[series.series_id][0]
    return [
        {
            "wallTime": rfc3339(job.run_start + step * job.step_seconds),
            "step": str(step),
            "scalar": {"value": round(series.value(job, step, _noise(seed, index, step)), 6)},
        }
        for step in steps
    ]


class VertexMetrics:
    """Answers the metadata and TensorBoard calls from the state of the jobs."""

    def __init__(self, jobs: VertexJobs) -> None:
        self._jobs = jobs

    # -- metadata contexts -------------------------------------------------------------------------------

    def get_context(self, project: str, location: str, context_id: str) -> dict[str, Any]:
        job = self._jobs.by_experiment(project, location, context_id)
        name = f"projects/{project}/locations/{location}/metadataStores/default/contexts/{context_id}"
        now = self._jobs.now()
        if job is None or phase_at(job, now).start is None:
            raise not_found(f"Context {name} does not exist.")
        if context_id == job.experiment_id:
            return self._experiment_context(job, now)
        if context_id == f"{job.experiment_id}-{RUN_ID}":
            return self._run_context(job, now)
        raise not_found(f"Context {name} does not exist.")

    def list_contexts(
        self, project: str, location: str, *, filter: str | None, size: str | None, token: str | None
    ) -> dict[str, Any]:
        schema, parent = _parse_context_filter(filter or "")
        now = self._jobs.now()
        if parent is not None:
            match = re.match(r"^projects/[^/]+/locations/[^/]+/metadataStores/default/contexts/(.+)$", parent)
            job = self._jobs.by_experiment(project, location, match.group(1)) if match else None
            jobs = [job] if job is not None else []
        else:
            jobs = self._jobs.jobs_in(project, location)
        contexts: list[dict[str, Any]] = []
        for job in jobs:
            if phase_at(job, now).start is None:
                continue
            if parent is None and schema in (None, "system.Experiment"):
                contexts.append(self._experiment_context(job, now))
            if schema in (None, "system.ExperimentRun"):
                contexts.append(self._run_context(job, now))
        return _page(contexts, "contexts", size, token, default=100, maximum=1000)

    def _experiment_context(self, job: Job, now: float) -> dict[str, Any]:
        phase = phase_at(job, now)
        return {
            "name": job.experiment,
            "displayName": job.experiment_id,
            "etag": str(int(phase.updated)),
            "createTime": rfc3339(phase.start or job.created),
            "updateTime": rfc3339(phase.updated),
            "schemaTitle": "system.Experiment",
            "schemaVersion": "0.0.1",
            "metadata": {
                "experiment_deleted": False,
                "backing_tensorboard_resource": self._tensorboard(job),
            },
        }

    def _run_context(self, job: Job, now: float) -> dict[str, Any]:
        phase = phase_at(job, now)
        state = {SUCCEEDED: "COMPLETE", FAILED: "FAILED"}.get(phase.state, "RUNNING")
        return {
            "name": f"{job.experiment}-{RUN_ID}",
            "displayName": RUN_ID,
            "etag": str(int(phase.updated)),
            "createTime": rfc3339(phase.start or job.created),
            "updateTime": rfc3339(phase.updated),
            "parentContexts": [job.experiment],
            "schemaTitle": "system.ExperimentRun",
            "schemaVersion": "0.0.1",
            "metadata": {"state": state},
        }

    # -- TensorBoard -------------------------------------------------------------------------------------

    def _tensorboard(self, job: Job) -> str:
        return f"{job.parent}/tensorboards/{tensorboard_id(job.project, job.location)}"

    def _job_for_run(self, project: str, location: str, tb: str, experiment: str) -> Job:
        job = self._jobs.by_experiment(project, location, experiment)
        if (
            job is None
            or tb != tensorboard_id(job.project, job.location)
            or experiment != job.experiment_id
            or phase_at(job, self._jobs.now()).start is None
        ):
            raise not_found(
                f"TensorboardExperiment projects/{project}/locations/{location}/tensorboards/{tb}"
                f"/experiments/{experiment} does not exist."
            )
        return job

    def list_runs(self, project: str, location: str, tb: str, experiment: str) -> dict[str, Any]:
        job = self._job_for_run(project, location, tb, experiment)
        phase = phase_at(job, self._jobs.now())
        name = f"{self._tensorboard(job)}/experiments/{job.experiment_id}/runs/{RUN_ID}"
        return {
            "tensorboardRuns": [
                {
                    "name": name,
                    "displayName": RUN_ID,
                    "createTime": rfc3339(phase.start or job.created),
                    "updateTime": rfc3339(phase.updated),
                    "etag": str(int(phase.updated)),
                }
            ]
        }

    def list_time_series(
        self,
        project: str,
        location: str,
        tb: str,
        experiment: str,
        run: str,
        *,
        size: str | None,
        token: str | None,
    ) -> dict[str, Any]:
        job = self._job_for_run(project, location, tb, experiment)
        if run != RUN_ID:
            raise not_found(
                f"TensorboardRun {self._tensorboard(job)}/experiments/{experiment}/runs/{run} does not exist."
            )
        now = self._jobs.now()
        items = [self._series_json(job, s, now) for s in self._visible(job, now)]
        return _page(items, "tensorboardTimeSeries", size, token, default=50, maximum=1000)

    def _visible(self, job: Job, now: float) -> list[_Series]:
        return [s for s in SERIES if (job.has_validation or not s.evaluation) and _steps(job, s, now)]

    def _series_json(self, job: Job, series: _Series, now: float) -> dict[str, Any]:
        steps = _steps(job, series, now)
        last = steps[-1]
        run = f"{self._tensorboard(job)}/experiments/{job.experiment_id}/runs/{RUN_ID}"
        return {
            "name": f"{run}/timeSeries/{_series_id(job, series)}",
            "displayName": series.display_name,
            "valueType": "SCALAR",
            "pluginName": "scalars",
            "createTime": rfc3339(job.run_start + steps[0] * job.step_seconds),
            "updateTime": rfc3339(job.run_start + last * job.step_seconds),
            "etag": str(last),
            "metadata": {
                "maxStep": str(last),
                "maxWallTime": rfc3339(job.run_start + last * job.step_seconds),
            },
        }

    def _resolve_series(self, project: str, location: str, name: str) -> tuple[Job, _Series]:
        match = re.match(
            r"^projects/([^/]+)/locations/([^/]+)/tensorboards/([^/]+)/experiments/([^/]+)/runs/([^/]+)"
            r"/timeSeries/([^/]+)$",
            name,
        )
        if (
            not match
            or match.group(1) not in (project, self._project_number(project))
            or match.group(2) != location
        ):
            raise invalid_argument(f"Invalid TensorboardTimeSeries name {name!r}.", "time_series")
        _, _, tb, experiment, run, series_id = match.groups()
        job = self._job_for_run(project, location, tb, experiment)
        entry = _SERIES_BY_ID.get(series_id[-4:])
        now = self._jobs.now()
        if (
            run != RUN_ID
            or entry is None
            or series_id != _series_id(job, entry[1])
            or entry[1] not in self._visible(job, now)
        ):
            raise not_found(f"TensorboardTimeSeries {name} does not exist.")
        return job, entry[1]

    def _project_number(self, project: str) -> str:
        return self._jobs._config.project_number(project)

    def batch_read(self, project: str, location: str, tb: str, names: list[str]) -> dict[str, Any]:
        if not names:
            raise invalid_argument("time_series must name at least one time series.", "time_series")
        now = self._jobs.now()
        data = []
        for name in names:
            if f"/tensorboards/{tb}/" not in name:
                raise invalid_argument(
                    f"TensorboardTimeSeries {name} is not in tensorboard {tb}.", "time_series"
                )
            job, series = self._resolve_series(project, location, name)
            data.append(self._series_data(job, series, now, MAX_POINTS))
        return {"timeSeriesData": data}

    def read(self, project: str, location: str, name: str, max_points: str | None) -> dict[str, Any]:
        job, series = self._resolve_series(project, location, name)
        try:
            limit = int(max_points) if max_points else MAX_POINTS
        except ValueError:
            raise invalid_argument(f"Invalid max_data_points {max_points!r}.", "max_data_points") from None
        return {"timeSeriesData": self._series_data(job, series, self._jobs.now(), 0 if limit < 0 else limit)}

    def _series_data(self, job: Job, series: _Series, now: float, limit: int) -> dict[str, Any]:
        return {
            "tensorboardTimeSeriesId": _series_id(job, series),
            "valueType": "SCALAR",
            "values": _points(job, series, now, limit),
        }


def _series_id(job: Job, series: _Series) -> str:
    """Time series ids are unique within a TensorBoard, as Vertex's generated numeric ids are: the job's
    id digits followed by the series' own four digits, so one batchRead can carry several jobs' series."""
    return f"{job.job_id[-9:]}{series.series_id}"


def _parse_context_filter(text: str) -> tuple[str | None, str | None]:
    schema = parent = None
    if not text.strip():
        return None, None
    for raw in re.split(r"\s+AND\s+", text.strip()):
        term = raw.strip()
        if m := re.fullmatch(r'schema_title\s*=\s*"([^"]+)"', term):
            schema = m.group(1)
        elif m := re.fullmatch(r'parent_contexts\s*:\s*"([^"]+)"', term):
            parent = m.group(1)
        else:
            raise invalid_argument(
                f'Unsupported filter term "{term}": use schema_title="..." and parent_contexts:"...".',
                "filter",
            )
    return schema, parent


def _page(
    items: list[dict[str, Any]], key: str, size: str | None, token: str | None, *, default: int, maximum: int
) -> dict[str, Any]:
    start = decode_token(token) if token else 0
    limit = page_size(size, default, maximum)
    out: dict[str, Any] = {}
    if items[start : start + limit]:
        out[key] = items[start : start + limit]
    if start + limit < len(items):
        out["nextPageToken"] = encode_token(start + limit)
    return out
