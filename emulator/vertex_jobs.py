"""Vertex AI tuning jobs: storage, lazily computed lifecycle, list filters and paging.

A job stores only its input and a few numbers fixed at creation (phase lengths, step count, the step at
which it will fail, when cancel was asked). Its state, step, times and outputs are computed from the
simulated clock whenever it is read, so no thread ticks jobs forward and thousands of jobs cost little.
"""

from __future__ import annotations

import math
import random
import re
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from emulator.apierror import failed_precondition, invalid_argument, not_found, rpc_status
from emulator.clock import SimClock, rfc3339
from emulator.config import EmulatorConfig
from emulator.faults import JobFailures
from emulator.paging import decode_token, encode_token, page_size
from emulator.vertex_validation import tuning_spec_key, validate_create

PENDING = "JOB_STATE_PENDING"
RUNNING = "JOB_STATE_RUNNING"
SUCCEEDED = "JOB_STATE_SUCCEEDED"
FAILED = "JOB_STATE_FAILED"
CANCELLING = "JOB_STATE_CANCELLING"
CANCELLED = "JOB_STATE_CANCELLED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

# v1beta1 `TuningJob.tuningJobState`, "the detail state of the tuning job (while the overall JobState is
# running)", and its values, from the REST discovery document aiplatform.v1beta1.json (revision 20261106).
# Which sub-state Vertex shows in which phase is not documented: here PENDING processes the dataset (or waits
# for quota or capacity while the control API holds the job), RUNNING tunes.
WAITING_FOR_QUOTA = "TUNING_JOB_STATE_WAITING_FOR_QUOTA"
PROCESSING_DATASET = "TUNING_JOB_STATE_PROCESSING_DATASET"
WAITING_FOR_CAPACITY = "TUNING_JOB_STATE_WAITING_FOR_CAPACITY"
TUNING = "TUNING_JOB_STATE_TUNING"
HOLD_STATES = (WAITING_FOR_QUOTA, WAITING_FOR_CAPACITY)

DEFAULT_EPOCHS = 3
BATCH_SIZE = 16
CANCEL_MESSAGE = "CANCELED"


def new_numeric_id(rng: random.Random) -> str:
    """A 19-digit id below 2**63, like the ids Vertex generates."""
    return str(rng.randrange(10**18, 9 * 10**18))


@dataclass(slots=True)
class Job:
    seq: int
    job_id: str
    project: str
    location: str
    created: float
    spec: dict[str, Any]
    pending_seconds: float
    step_seconds: float
    cancel_seconds: float
    total_steps: int
    epochs: int
    example_count: int
    has_validation: bool
    model_id: str
    endpoint_id: str
    fail_at_step: int | None = None
    fail_message: str = ""
    cancel_requested: float | None = None
    #: set while the control API holds the job in PENDING: since when, and the sub-state it shows
    held_since: float | None = None
    hold_state: str = ""
    #: examples Vertex leaves out of the dataset (too long, bad image, ...) and the reason it gives
    dropped_count: int = 0
    dropped_reason: str = ""

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    @property
    def name(self) -> str:
        return f"{self.parent}/tuningJobs/{self.job_id}"

    @property
    def spec_key(self) -> str:
        """`supervisedTuningSpec` or `preferenceOptimizationSpec`: the tuning_spec one-of member set."""
        return tuning_spec_key(self.spec)

    @property
    def experiment_id(self) -> str:
        return f"tuning-experiment-{self.job_id}"

    @property
    def experiment(self) -> str:
        return f"{self.parent}/metadataStores/default/contexts/{self.experiment_id}"

    @property
    def endpoint(self) -> str:
        return f"{self.parent}/endpoints/{self.endpoint_id}"

    @property
    def run_start(self) -> float:
        return self.created + self.pending_seconds

    def steps_at(self, moment: float) -> int:
        """Steps completed by `moment`, ignoring cancellation and failure (none while held in PENDING)."""
        if self.held_since is not None or moment <= self.run_start:
            return 0
        return min(self.total_steps, int((moment - self.run_start) / self.step_seconds))


#: The reason given when none is asked for: the per-example limit of the Gemini 2.5 family (tuning docs).
DEFAULT_DROP_REASON = "Example exceeds the maximum of 131072 input and output tokens."


@dataclass(frozen=True, slots=True)
class DroppedExamplesRule:
    """New jobs (those named `display_name`, or all) report `count` examples dropped for `reason`."""

    count: int
    reason: str = DEFAULT_DROP_REASON
    display_name: str | None = None


#: At most this many indices of dropped examples are listed: the API gives "a partial sample" of them.
DROPPED_SAMPLE = 10


def dropped_examples(job: Job) -> tuple[list[str], list[str]]:
    """(sample of 1-based indices as int64 strings, the reason for each): spread over the dataset."""
    count = min(job.dropped_count, job.example_count)
    shown = min(count, DROPPED_SAMPLE)
    stride = max(1, job.example_count // max(1, count))
    indices = [str(1 + i * stride) for i in range(shown)]
    return indices, [job.dropped_reason] * shown


@dataclass(frozen=True, slots=True)
class Phase:
    """Where a job is at one moment."""

    state: str
    step: int
    start: float | None
    end: float | None
    updated: float
    error: dict[str, Any] | None


def phase_at(job: Job, now: float) -> Phase:
    """The job's state at simulated time `now`."""
    run_start = job.run_start
    success_at = run_start + job.total_steps * job.step_seconds
    fail_at = None if job.fail_at_step is None else run_start + job.fail_at_step * job.step_seconds
    ends_at = fail_at if fail_at is not None else success_at
    cancel = job.cancel_requested
    if cancel is not None and cancel < ends_at and now >= cancel:
        started = run_start if cancel >= run_start else None
        done_at = cancel + job.cancel_seconds
        if now < done_at:
            return Phase(CANCELLING, job.steps_at(cancel), started, None, cancel, None)
        return Phase(
            CANCELLED,
            job.steps_at(cancel),
            started,
            done_at,
            done_at,
            rpc_status("CANCELLED", CANCEL_MESSAGE),
        )
    if job.held_since is not None:
        return Phase(PENDING, 0, None, None, job.held_since, None)
    if now < run_start:
        return Phase(PENDING, 0, None, None, job.created, None)
    if now < ends_at:
        return Phase(RUNNING, job.steps_at(now), run_start, None, run_start, None)
    if fail_at is not None:
        return Phase(
            FAILED,
            job.fail_at_step or 0,
            run_start,
            fail_at,
            fail_at,
            rpc_status("INTERNAL", job.fail_message),
        )
    return Phase(SUCCEEDED, job.total_steps, run_start, success_at, success_at, None)


def render_job(job: Job, now: float) -> dict[str, Any]:
    """The TuningJob JSON at `now`: proto3 JSON, so empty fields are left out."""
    phase = phase_at(job, now)
    out: dict[str, Any] = {"name": job.name}
    if job.spec.get("tunedModelDisplayName"):
        out["tunedModelDisplayName"] = job.spec["tunedModelDisplayName"]
    else:
        out["tunedModelDisplayName"] = f"tuned-{job.job_id}"
    for key in ("description", "baseModel", "preTunedModel", "serviceAccount", "encryptionSpec"):
        if job.spec.get(key):
            out[key] = job.spec[key]
    out[job.spec_key] = _render_spec(job)
    out["state"] = phase.state
    out["createTime"] = rfc3339(job.created)
    if phase.start is not None:
        out["startTime"] = rfc3339(phase.start)
    if phase.end is not None:
        out["endTime"] = rfc3339(phase.end)
    out["updateTime"] = rfc3339(phase.updated)
    if phase.error is not None:
        out["error"] = phase.error
    if job.spec.get("labels"):
        out["labels"] = dict(job.spec["labels"])
    if phase.start is not None:
        out["experiment"] = job.experiment
        out["tuningDataStats"] = _data_stats(job)
    if phase.state == SUCCEEDED:
        out["tunedModel"] = _tuned_model(job)
        if (job.spec.get(job.spec_key) or {}).get("evaluationConfig"):
            out["evaluateDatasetRuns"] = _evaluate_dataset_runs(job, out["tunedModel"]["checkpoints"])
    if phase.state == PENDING:
        out["tuningJobState"] = job.hold_state if job.held_since is not None else PROCESSING_DATASET
    elif phase.state == RUNNING:
        out["tuningJobState"] = TUNING
    # v1beta1 TuningJobMetadata{completedEpochCount, completedStepCount (int64)}; the discovery document says
    # completedStepCount is "set for Multi-Step RL", so supervised jobs report epochs only. Zero is the
    # proto3 default and is left out.
    epochs_done = min(job.epochs, phase.step // max(1, job.total_steps // job.epochs))
    if epochs_done:
        out["tuningJobMetadata"] = {"completedEpochCount": str(epochs_done)}
    return out


def _release(job: Job, now: float) -> None:
    """End a hold: the time spent held is added to the job's pending time (nothing had started)."""
    if job.held_since is not None:
        job.pending_seconds += max(0.0, now - job.held_since)
        job.held_since = None
        job.hold_state = ""


def _render_spec(job: Job) -> dict[str, Any]:
    spec = dict(job.spec.get(job.spec_key) or {})
    hyper = dict(spec.get("hyperParameters") or {})
    hyper["epochCount"] = str(job.epochs)
    hyper.setdefault("learningRateMultiplier", 1.0)
    hyper.setdefault("adapterSize", "ADAPTER_SIZE_FOUR")
    spec["hyperParameters"] = hyper
    return spec


def _data_stats(job: Job) -> dict[str, Any]:
    if job.spec_key == "preferenceOptimizationSpec":
        return {"preferenceOptimizationDataStats": _preference_stats(job)}
    tokens_per_example = 180 + job.example_count % 97
    total_tokens = job.example_count * tokens_per_example
    stats: dict[str, Any] = {
        "supervisedTuningDataStats": {
            "tuningDatasetExampleCount": str(job.example_count),
            "totalTuningCharacterCount": str(total_tokens * 4),
            "totalBillableTokenCount": str(total_tokens * job.epochs),
            "tuningStepCount": str(job.total_steps),
            "userInputTokenDistribution": {
                "sum": str(total_tokens * 2 // 3),
                "billableSum": str(total_tokens * 2 // 3),
                "min": 12.0,
                "max": float(tokens_per_example * 3),
                "mean": float(tokens_per_example * 2 // 3),
                "median": float(tokens_per_example * 2 // 3 - 5),
                "p5": 20.0,
                "p95": float(tokens_per_example * 2),
            },
        }
    }
    if job.dropped_count:
        # SupervisedTuningDataStats (v1 discovery): totalTruncatedExampleCount "the number of examples in the
        # dataset that have been dropped", truncatedExampleIndices "a partial sample of the indices (starting
        # from 1)", droppedExampleReasons "for each index ..., the user-facing reason".
        indices, reasons = dropped_examples(job)
        stats["supervisedTuningDataStats"].update(
            totalTruncatedExampleCount=str(min(job.dropped_count, job.example_count)),
            truncatedExampleIndices=indices,
            droppedExampleReasons=reasons,
        )
    return stats


def _preference_stats(job: Job) -> dict[str, Any]:
    """PreferenceOptimizationDataStats (v1 discovery): int64 counts as strings; its DatasetDistribution has a
    double `sum` (unlike the supervised distribution's int64 `sum` and `billableSum`)."""
    tokens_per_example = 240 + job.example_count % 89
    total_tokens = job.example_count * tokens_per_example
    return {
        "tuningDatasetExampleCount": str(job.example_count),
        "totalBillableTokenCount": str(total_tokens * job.epochs),
        "tuningStepCount": str(job.total_steps),
        "userInputTokenDistribution": _distribution(total_tokens * 0.4, tokens_per_example * 0.4),
        "userOutputTokenDistribution": _distribution(total_tokens * 0.6, tokens_per_example * 0.6),
        **_preference_dropped(job),
        "scoresDistribution": {
            "sum": job.example_count * 0.5,
            "min": 0.0,
            "max": 1.0,
            "mean": 0.5,
            "median": 0.5,
            "p5": 0.05,
            "p95": 0.95,
        },
    }


def _preference_dropped(job: Job) -> dict[str, Any]:
    """PreferenceOptimizationDataStats has droppedExampleIndices and droppedExampleReasons, no total count."""
    if not job.dropped_count:
        return {}
    indices, reasons = dropped_examples(job)
    return {"droppedExampleIndices": indices, "droppedExampleReasons": reasons}


def _distribution(total: float, mean: float) -> dict[str, Any]:
    return {
        "sum": float(round(total)),
        "min": float(round(mean / 4)),
        "max": float(round(mean * 3)),
        "mean": float(round(mean)),
        "median": float(round(mean * 0.9)),
        "p5": float(round(mean / 3)),
        "p95": float(round(mean * 2)),
    }


def _tuned_model(job: Job) -> dict[str, Any]:
    last_only = bool((job.spec.get(job.spec_key) or {}).get("exportLastCheckpointOnly"))
    steps_per_epoch = max(1, job.total_steps // job.epochs)
    epochs = [job.epochs] if last_only else list(range(1, job.epochs + 1))
    checkpoints = []
    for epoch in epochs:
        step = job.total_steps if epoch == job.epochs else epoch * steps_per_epoch
        checkpoint: dict[str, Any] = {"checkpointId": str(epoch), "epoch": str(epoch), "step": str(step)}
        if epoch == job.epochs:
            checkpoint["endpoint"] = job.endpoint
        checkpoints.append(checkpoint)
    return {
        "model": f"{job.parent}/models/{job.model_id}@1",
        "endpoint": job.endpoint,
        "checkpoints": checkpoints,
    }


# Metric spec field -> the AggregationResult field holding its value (v1 discovery, revision 20261106).
_METRIC_VALUE_FIELDS = {
    "bleuSpec": "bleuMetricValue",
    "rougeSpec": "rougeMetricValue",
    "exactMatchSpec": "exactMatchMetricValue",
    "pointwiseMetricSpec": "pointwiseMetricResult",
    "pairwiseMetricSpec": "pairwiseMetricResult",
    "customCodeExecutionSpec": "customCodeExecutionResult",
}


def _evaluate_dataset_runs(job: Job, checkpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One EvaluateDatasetRun per checkpoint (v1 discovery): `evaluationRun` names the run, the response has
    one AggregationResult per metric and aggregation, and `outputInfo.gcsOutputDirectory` the folder the
    results went to (under the configured prefix). Scores are derived from the job id, so they are stable."""
    config = job.spec[job.spec_key]["evaluationConfig"]
    prefix = str(config["outputConfig"]["gcsDestination"]["outputUriPrefix"]).rstrip("/")
    runs = []
    for checkpoint in checkpoints:
        results = []
        for index, metric in enumerate(config["metrics"]):
            kind = next((key for key in _METRIC_VALUE_FIELDS if key in metric), None)
            for aggregation in metric.get("aggregationMetrics") or ["AVERAGE"]:
                result: dict[str, Any] = {"aggregationMetric": aggregation}
                if kind == "pairwiseMetricSpec":
                    result["pairwiseMetricResult"] = {"pairwiseChoice": "CANDIDATE"}
                elif kind is not None:
                    seed = zlib.crc32(f"{job.job_id}/{checkpoint['checkpointId']}/{index}".encode())
                    result[_METRIC_VALUE_FIELDS[kind]] = {"score": round(0.5 + (seed % 400) / 1000, 3)}
                results.append(result)
        run_id = new_numeric_id(random.Random(f"{job.job_id}/{checkpoint['checkpointId']}"))
        validation = job.spec[job.spec_key].get("validationDatasetUri")
        runs.append(
            {
                "checkpointId": checkpoint["checkpointId"],
                "evaluationRun": f"{job.parent}/evaluationRuns/{run_id}",
                "evaluateDatasetResponse": {
                    "aggregationOutput": {
                        **({"dataset": {"gcsSource": {"uris": [validation]}}} if validation else {}),
                        "aggregationResults": results,
                    },
                    "outputInfo": {
                        "gcsOutputDirectory": f"{prefix}/tuning-job-{job.job_id}/checkpoint-"
                        f"{checkpoint['checkpointId']}"
                    },
                },
            }
        )
    return runs


# -- list filters -----------------------------------------------------------------------------------------
# The public proto documents `filter` only as "the standard list filter". We accept the AIP-160 subset other
# Vertex job lists document: `labels.KEY="VALUE"`, `labels.KEY!="VALUE"`, `labels.KEY:*`, `state="..."`,
# `state!="..."`, joined by AND. Anything else is refused with 400, so a client relying on more notices.

_TERM_RE = re.compile(
    r'^(?:labels\.(?P<key>[\w-]+)\s*(?:(?P<op>!=|=)\s*(?P<value>"(?:[^"\\]|\\.)*"|[\w-]*)|:\s*\*)'
    r'|state\s*(?P<sop>!=|=)\s*(?P<state>"JOB_STATE_\w+"|JOB_STATE_\w+))$'
)


@dataclass(frozen=True, slots=True)
class _Term:
    kind: str
    key: str
    op: str
    value: str


def parse_filter(text: str) -> list[_Term]:
    if not text.strip():
        return []
    terms = []
    for raw in re.split(r"\s+AND\s+", text.strip()):
        match = _TERM_RE.match(raw.strip())
        if not match:
            raise invalid_argument(
                f'Unsupported filter term "{raw.strip()}": use labels.KEY="VALUE", labels.KEY:*, '
                'state="JOB_STATE_..." joined by AND.',
                "filter",
            )
        if match.group("state"):
            terms.append(_Term("state", "", match.group("sop"), match.group("state").strip('"')))
        elif match.group("op"):
            value = match.group("value")
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            terms.append(_Term("label", match.group("key"), match.group("op"), value))
        else:
            terms.append(_Term("label", match.group("key"), "has", ""))
    return terms


def _matches(job: Job, terms: list[_Term], now: float) -> bool:
    for term in terms:
        if term.kind == "state":
            state = phase_at(job, now).state
            if (state == term.value) != (term.op == "="):
                return False
            continue
        labels = job.spec.get("labels") or {}
        if term.op == "has":
            if term.key not in labels:
                return False
        elif (labels.get(term.key) == term.value) != (term.op == "="):
            return False
    return True


class VertexJobs:
    """Every tuning job of the emulator, by parent; thread-safe."""

    def __init__(
        self, config: EmulatorConfig, clock: SimClock, rng: random.Random, failures: JobFailures
    ) -> None:
        self._config = config
        self._clock = clock
        self._rng = rng
        self._failures = failures
        self._lock = threading.Lock()
        self._by_parent: dict[tuple[str, str], list[Job]] = {}
        self._by_id: dict[str, Job] = {}
        self._by_endpoint: dict[str, Job] = {}
        self._seq = 0
        self.dropped_rules: list[DroppedExamplesRule] = []

    def __len__(self) -> int:
        return len(self._by_id)

    def create(self, project: str, location: str, body: Any) -> dict[str, Any]:
        spec = validate_create(body)
        number = self._config.project_number(project)
        if spec.get("preTunedModel"):
            spec["preTunedModel"] = self._pre_tuned_source(number, location, spec["preTunedModel"])
        tuning = spec[tuning_spec_key(spec)]
        hyper = tuning.get("hyperParameters") or {}
        epochs = int(hyper.get("epochCount") or DEFAULT_EPOCHS)
        examples = 200 + zlib.crc32(str(tuning["trainingDatasetUri"]).encode()) % 1800
        total_steps = self._config.total_steps or max(1, math.ceil(examples / BATCH_SIZE)) * epochs
        epochs = min(epochs, total_steps)
        display = str(spec.get("tunedModelDisplayName") or "")
        with self._lock:
            self._seq += 1
            job_id = new_numeric_id(self._rng)
            while job_id in self._by_id:
                job_id = new_numeric_id(self._rng)
            job = Job(
                seq=self._seq,
                job_id=job_id,
                project=number,
                location=location,
                created=self._clock.now(),
                spec=spec,
                pending_seconds=self._config.pending_seconds,
                step_seconds=max(self._config.step_seconds, 1e-6),
                cancel_seconds=self._config.cancel_seconds,
                total_steps=total_steps,
                epochs=epochs,
                example_count=examples,
                has_validation=bool(tuning.get("validationDatasetUri")),
                model_id=new_numeric_id(self._rng),
                endpoint_id=new_numeric_id(self._rng),
            )
            for dropped in self.dropped_rules:
                if dropped.display_name in (None, display):
                    job.dropped_count, job.dropped_reason = dropped.count, dropped.reason
            rule = self._failures.decide("vertex", display)
            if rule is not None:
                job.fail_at_step = max(1, min(total_steps, round(total_steps * rule.at_fraction)))
                job.fail_message = rule.message
            self._by_parent.setdefault((number, location), []).append(job)
            self._by_id[job_id] = job
            self._by_endpoint[job.endpoint_id] = job
        return render_job(job, self._clock.now())

    def find(self, project: str, location: str, job_id: str) -> Job:
        job = self._by_id.get(job_id)
        if job is None or job.project != self._config.project_number(project) or job.location != location:
            raise not_found(
                f"TuningJob projects/{project}/locations/{location}/tuningJobs/{job_id} does not exist."
            )
        return job

    def get(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        return render_job(self.find(project, location, job_id), self._clock.now())

    def list_jobs(
        self, project: str, location: str, *, filter: str | None, size: str | None, token: str | None
    ) -> dict[str, Any]:
        """Newest first. The token is the index of the next (older) job, stable because jobs are never
        deleted."""
        terms = parse_filter(filter or "")
        limit = page_size(size, self._config.list_default_page_size, self._config.list_max_page_size)
        jobs = self._by_parent.get((self._config.project_number(project), location), [])
        with self._lock:
            snapshot = list(jobs)
        index = len(snapshot) - 1 if not token else decode_token(token)
        if index >= len(snapshot):
            raise invalid_argument("Invalid page token.", "page_token")
        now = self._clock.now()
        page: list[dict[str, Any]] = []
        while index >= 0 and len(page) < limit:
            job = snapshot[index]
            index -= 1
            if _matches(job, terms, now):
                page.append(render_job(job, now))
        out: dict[str, Any] = {}
        if page:
            out["tuningJobs"] = page
        if index >= 0:
            out["nextPageToken"] = encode_token(index)
        return out

    def cancel(self, project: str, location: str, job_id: str) -> dict[str, Any]:
        """Cancel is asynchronous: `{}` now, CANCELLING for `cancel_seconds`, then CANCELLED.

        Cancelling a job that has already ended answers 400 FAILED_PRECONDITION: our best reading of
        Vertex's behaviour, which its documentation does not state (API-NOTES §F.2).
        """
        job = self.find(project, location, job_id)
        with self._lock:
            now = self._clock.now()
            state = phase_at(job, now).state
            if state in TERMINAL:
                raise failed_precondition(
                    f"Cannot cancel TuningJob {job.name} because it is in state {state}; only pending or "
                    "running jobs can be cancelled."
                )
            if job.cancel_requested is None:
                _release(job, now)
                job.cancel_requested = now
        return {}

    def hold(self, name: str, sub_state: str) -> dict[str, Any]:
        """Keep a PENDING job there, showing `sub_state` (waiting for quota or capacity), until `release`."""
        if sub_state not in HOLD_STATES:
            raise invalid_argument(
                f"tuningJobState must be one of {', '.join(HOLD_STATES)}, got {sub_state!r}."
            )
        job = self._by_name(name)
        with self._lock:
            now = self._clock.now()
            state = phase_at(job, now).state
            if state != PENDING:
                raise failed_precondition(f"TuningJob {name} is {state}; only a pending job can be held.")
            if job.held_since is None:
                job.held_since = now
            job.hold_state = sub_state
        return render_job(job, self._clock.now())

    def release(self, name: str) -> dict[str, Any]:
        """Let a held job go on: its remaining wait in PENDING starts again from now."""
        job = self._by_name(name)
        with self._lock:
            _release(job, self._clock.now())
        return render_job(job, self._clock.now())

    def _by_name(self, name: str) -> Job:
        job = self._by_id.get(name.rsplit("/", 1)[-1])
        if job is None:
            raise not_found(f"TuningJob {name} does not exist.")
        return job

    def fail_job(self, name: str, message: str, at_step: int | None = None) -> dict[str, Any]:
        """Make an existing job fail at `at_step` (default: the next step), if it has not ended yet."""
        job_id = name.rsplit("/", 1)[-1]
        job = self._by_id.get(job_id)
        if job is None:
            raise not_found(f"TuningJob {name} does not exist.")
        with self._lock:
            now = self._clock.now()
            if phase_at(job, now).state in TERMINAL:
                raise failed_precondition(f"TuningJob {name} has already ended.")
            step = at_step if at_step is not None else job.steps_at(now) + 1
            job.fail_at_step = max(1, min(job.total_steps, step))
            job.fail_message = message
        return render_job(job, self._clock.now())

    def by_experiment(self, project: str, location: str, context_id: str) -> Job | None:
        prefix = "tuning-experiment-"
        if not context_id.startswith(prefix):
            return None
        job = self._by_id.get(context_id[len(prefix) :].split("-", 1)[0])
        if job is None or job.project != self._config.project_number(project) or job.location != location:
            return None
        return job

    def _pre_tuned_source(self, number: str, location: str, pre: dict[str, Any]) -> dict[str, Any]:
        """The PreTunedModel as the job echoes it (with its output-only `baseModel`), once the model is found:
        a model of a succeeded job in this project and location, and the checkpoint, if named, one of its.

        Tuning from a model in another region is refused as not found (Vertex AI keeps data in the region).
        """
        name = str(pre["tunedModelName"])
        parts = name.split("/")
        model_id = parts[5].split("@", 1)[0]
        source = None
        if parts[3] == location and self._config.project_number(parts[1]) == number:
            now = self._clock.now()
            source = next(
                (
                    j
                    for j in self.jobs_in(number, location)
                    if j.model_id == model_id and phase_at(j, now).state == SUCCEEDED
                ),
                None,
            )
        if source is None:
            raise not_found(f"Model {name} not found.")
        checkpoint = pre.get("checkpointId")
        if checkpoint is not None and checkpoint not in {
            c["checkpointId"] for c in _tuned_model(source)["checkpoints"]
        }:
            raise invalid_argument(
                f"Checkpoint {checkpoint} does not exist in model {name}.",
                "tuning_job.pre_tuned_model.checkpoint_id",
            )
        base = source.spec.get("baseModel") or (source.spec.get("preTunedModel") or {}).get("baseModel")
        return {**pre, "baseModel": base} if base else dict(pre)

    def jobs_in(self, project: str, location: str) -> list[Job]:
        with self._lock:
            return list(self._by_parent.get((self._config.project_number(project), location), []))

    def by_endpoint(self, project: str, location: str, endpoint_id: str) -> Job | None:
        job = self._by_endpoint.get(endpoint_id)
        if job is None or job.project != self._config.project_number(project) or job.location != location:
            return None
        return job

    def now(self) -> float:
        return self._clock.now()
