"""The Vertex AI tuning job (supervised or preference tuning) behind a `TuningJob` resource.

Finding the job: by `status.name` once known, or the name spec.jobName imports; before that, in the
per-location listing the poller makes anyway, by the `vertexops-uid` label (a job this resource created before
a restart), then by the `vertexops-identity` label (the job of the same manifest, made by a cluster since
rebuilt or before the resource was re-created: see `remote_identity`). Following it: through the poller,
polling often while the job is young or has just changed and less often as it runs, never once it is
terminal. Metrics come from the job's experiment on their own, slower cadence, plus one final read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from controller.api.base import format_timestamp
from controller.api.conditions import ConditionType, Reason
from controller.api.tuningjob import TuningJobSpec
from controller.backends.dependencies import DependencyNotReady, JobLookup, PreTunedSource, resolve
from controller.backends.job_detail import (
    dropped_event,
    dropped_note,
    dropped_status,
    sub_state_phrase,
    sub_state_status,
)
from controller.backends.remote_identity import (
    IDENTITY_LABEL,
    choose_by_identity,
    choose_by_uid,
    identity_of,
    import_differences,
)
from controller.backends.test_prompts import answer_prompts
from controller.backends.vertex_cleanup import remove_outputs
from controller.backends.vertex_metrics import MetricsPoller, MetricsReading
from controller.backends.vertex_poller import MANAGED_BY_LABEL, MANAGED_BY_VALUE, UID_LABEL, LocationPoller
from controller.external import CreateCheck, JsonObject, Observation, Phase, SpecError, intent_time
from controller.google.errors import FailedPreconditionError, GoogleAPIError, NotFoundError
from controller.google.models_vertex import EvaluateDatasetRun, TunedModelCheckpoint, TuningJob, TuningMetrics
from controller.google.vertex import VertexClient
from controller.preflight import DatasetPreflight
from controller.tenancy import Tenancy

log = logging.getLogger(__name__)

_PHASES: dict[str, tuple[Phase, Reason]] = {
    "JOB_STATE_QUEUED": (Phase.PENDING, Reason.JOB_PENDING),
    "JOB_STATE_PENDING": (Phase.PENDING, Reason.JOB_PENDING),
    "JOB_STATE_PAUSED": (Phase.PENDING, Reason.JOB_PENDING),
    "JOB_STATE_RUNNING": (Phase.RUNNING, Reason.JOB_RUNNING),
    "JOB_STATE_UPDATING": (Phase.RUNNING, Reason.JOB_RUNNING),
    "JOB_STATE_SUCCEEDED": (Phase.SUCCEEDED, Reason.JOB_SUCCEEDED),
    "JOB_STATE_FAILED": (Phase.FAILED, Reason.JOB_FAILED),
    "JOB_STATE_PARTIALLY_SUCCEEDED": (Phase.FAILED, Reason.JOB_FAILED),
    "JOB_STATE_EXPIRED": (Phase.FAILED, Reason.JOB_EXPIRED),
    "JOB_STATE_CANCELLING": (Phase.CANCELLING, Reason.JOB_CANCELLED),
    "JOB_STATE_CANCELLED": (Phase.CANCELLED, Reason.JOB_CANCELLED),
}
TERMINAL_STATES = frozenset(s for s, (phase, _) in _PHASES.items() if phase.terminal)

# How old the listing may be when looking for a job a create intent says may exist. The reconciler trusts
# an absence only if the listing started after the create grace had passed (Observation.searched_at); a
# short age makes the listing after a requeue fresh enough for that.
INTENT_LOOKUP_MAX_AGE_SECONDS = 2.0

# A cancel is sent once per this many seconds at most while the job still shows as running: a listing taken
# just before the cancel (and reused by the next reconciles) still says RUNNING, and Vertex may show
# CANCELLING only a moment later. Sent again after this long, in case the first one was lost.
CANCEL_RESEND_SECONDS = 60.0

CONSOLE = "https://console.cloud.google.com/vertex-ai/generative/language/locations/{location}/tuning/tuningJob/{id}?project={project}"


@dataclass(frozen=True)
class VertexSettings:
    default_project: str | None = None
    default_location: str = "us-central1"
    poll_min_seconds: float = 15.0
    poll_max_seconds: float = 300.0
    # A job this old polls at poll_max; younger ones in proportion (a tenth of their age, at least poll_min).
    metrics_interval_seconds: float = 120.0
    # New metrics of a running job go to its status at most this often (each write is an etcd revision and
    # a watch event for every client); a first value, a new kind of value (the first evaluation) and the
    # final read are written at once, and Prometheus gets every value read.
    metrics_status_seconds: float = 600.0
    # Part of every job's identity: operators with different fleet names never adopt each other's jobs.
    fleet_name: str = ""


class TuningJobBackend:
    noun = "tuning job"

    def __init__(
        self,
        client: VertexClient,
        settings: VertexSettings,
        *,
        poller: LocationPoller | None = None,
        metrics: MetricsPoller | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        tenancy: Tenancy | None = None,
        preflight: DatasetPreflight | None = None,
        jobs: JobLookup | None = None,
    ) -> None:
        self.client = client
        # Reads the datasets with the same credential as `client` (one backend per Google identity).
        self.preflight = preflight
        # The operator's cache of TuningJobs, for spec.preTunedModel.tuningJobRef (controller.backends
        # .dependencies); without it, such a job waits.
        self.jobs: JobLookup = jobs or (lambda _namespace, _name: None)
        self.tenancy = tenancy
        self.settings = settings
        self.poller = poller or LocationPoller(client, clock)
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        # uid -> job name, for jobs this process created or adopted: spares a label search when the cache
        # still holds the object as it was before the status write that recorded the name.
        self._names: dict[str, str] = {}
        # job name -> when (clock) this process last asked Vertex to cancel it
        self._cancel_sent: dict[str, float] = {}
        self.metrics = metrics or MetricsPoller(client, clock, now)

    # -- ExternalClient ------------------------------------------------------------------------------------

    def observe(self, obj: JsonObject) -> Observation:
        spec = _spec(obj)
        project, location = self._where(spec, obj)
        status = obj.get("status") or {}
        uid = obj["metadata"]["uid"]
        known = status.get("name") or self._name_of(uid)
        if known and status.get("state") in TERMINAL_STATES and _final_metrics_read(status):
            return self._from_status(status)
        found_by: str | None = None
        if spec.job_name:
            job = self._get_imported(spec.job_name)
            found_by = None if known else "import"
        elif known:
            deleting = bool(obj["metadata"].get("deletionTimestamp"))
            max_age = self.settings.poll_min_seconds if deleting else self._interval(status)
            job = self.poller.get(project, location, known, max_age) or self.client.get_tuning_job(known)
        else:
            adoptable, found_by, searched_at = self._find(obj, spec, project, location)
            if adoptable is None:
                return Observation(exists=False, searched_at=searched_at)
            job = adoptable
            log.info("found tuning job %s by its %s label: adopting it", job.name, found_by)
        self._remember_name(uid, job.name)
        observation = self._observe_job(obj, project, location, job)
        observation.found_by = found_by
        if spec.job_name:
            observation.conditions.append(_spec_matched(spec, job))
        else:
            observation.status["identity"] = self._identity(obj, spec, project, location)
        return observation

    def check_before_create(self, obj: JsonObject) -> CreateCheck:
        """The dataset preflight (controller.preflight): nothing for an imported job or without a reader."""
        spec = _spec(obj)
        if spec.job_name:
            return CreateCheck()
        try:
            resolve(obj, self.jobs)
        except DependencyNotReady as err:
            if err.stalled:
                return CreateCheck(blocked=(err.reason, err.message), retry_after=300.0)
            return CreateCheck(waiting=(err.reason, err.message), retry_after=60.0)
        if self.preflight is None:
            return CreateCheck()
        required_by = self.tenancy.preflight_required_by(obj) if self.tenancy is not None else None
        return self.preflight.check(obj, spec, required_by=required_by)

    def create(self, obj: JsonObject) -> Observation:
        spec = _spec(obj)
        if spec.job_name:  # observe raises NotFound for a missing import; never create one
            raise SpecError(
                Reason.NOT_FOUND, f"spec.jobName: {spec.job_name} was not found; nothing is created"
            )
        project, location = self._where(spec, obj)
        identity = self._identity(obj, spec, project, location)
        try:
            source = resolve(obj, self.jobs)
        except DependencyNotReady as err:  # checked just before; changed since (a dependency re-created)
            raise SpecError(err.reason, err.message, retry_after=10.0) from err
        body = _create_body(obj, identity, source)
        job = self.client.create_tuning_job(project, location, body)
        self._remember_name(obj["metadata"]["uid"], job.name)
        self.poller.remember(project, location, job)
        # A job just created has logged nothing yet: its metrics are first read at its next poll, so the
        # reconcile that creates it (the one a burst of new resources waits on) makes no metrics call.
        observation = self._observe_job(obj, project, location, job, read_metrics=False)
        observation.status["identity"] = identity
        return observation

    def update(self, obj: JsonObject, observation: Observation) -> Observation:
        return observation  # every input of a tuning job is immutable (enforced by the CRD's CEL rules)

    def delete(self, obj: JsonObject, observation: Observation) -> bool:
        if observation.phase.terminal:
            if _spec(obj).effective_deletion_policy() != "Delete":
                return True
            return self._remove_outputs(obj, observation)
        if observation.phase is Phase.CANCELLING:
            return False
        name = observation.status.get("name") or ""
        with self._lock:
            sent = self._cancel_sent.get(name)
        if sent is not None and self._clock() - sent < CANCEL_RESEND_SECONDS:
            return False  # asked already; waiting for Vertex to show CANCELLING, then CANCELLED
        try:
            self.client.cancel_tuning_job(name)
        except FailedPreconditionError:
            log.info("cancel refused for %s: it finished meanwhile", name)
            return False
        with self._lock:
            self._cancel_sent[name] = self._clock()
        return False

    def _remove_outputs(self, obj: JsonObject, observation: Observation) -> bool:
        """deletionPolicy Delete, once the job has ended: its endpoints and model (vertex_cleanup)."""
        tuned = observation.status.get("tunedModel") or (obj.get("status") or {}).get("tunedModel") or {}
        progress = remove_outputs(self.client, tuned)
        observation.deleting_message = progress.message
        if progress.done and tuned:
            observation.events.append(("Normal", Reason.OUTPUTS_DELETED, progress.message))
        return progress.done

    def orphan_on_delete(self, obj: JsonObject) -> bool:
        return _spec(obj).effective_deletion_policy() == "Orphan"

    def run_test_prompts(self, obj: JsonObject, observation: Observation) -> list[JsonObject]:
        endpoint = observation.outputs.get("endpoint", "")
        return answer_prompts(
            obj["spec"].get("testPrompts") or [],
            lambda text, config: self.client.generate_content(endpoint, text, generation_config=config),
            self._now,
        )

    def forget(self, obj: JsonObject) -> None:
        uid = obj["metadata"]["uid"]
        with self._lock:
            self._names.pop(uid, None)
        name = (obj.get("status") or {}).get("name")
        if name:
            with self._lock:
                self._cancel_sent.pop(name, None)
            project, location = self._where(_spec(obj), obj)
            self.metrics.forget(name, project, location)

    # -- helpers -------------------------------------------------------------------------------------------

    def _where(self, spec: TuningJobSpec, obj: JsonObject) -> tuple[str, str]:
        if spec.job_name:  # projects/P/locations/L/tuningJobs/ID
            parts = spec.job_name.split("/")
            return parts[1], parts[3]
        if self.tenancy is not None:
            tenant = self.tenancy.tenant_of(obj["metadata"]["namespace"])
            if tenant is not None:  # the tenant's defaults; admit() has checked the result against it
                where = self.tenancy.where(obj, tenant)
                return where.project, where.location or self.settings.default_location
        project = spec.project_id or self.settings.default_project
        if not project:
            raise SpecError(
                Reason.INVALID_SPEC,
                "spec.projectID: not set, and the operator has no default project (--project); set one",
            )
        return project, spec.location or self.settings.default_location

    def _find(
        self, obj: JsonObject, spec: TuningJobSpec, project: str, location: str
    ) -> tuple[TuningJob | None, str | None, float]:
        """A job to adopt, from the location's listing: this resource's own (UID), else its identity's; and
        when the listing that was searched started."""
        # A recorded intent means a create may have been sent: look in a listing fresh enough to show it.
        max_age = INTENT_LOOKUP_MAX_AGE_SECONDS if intent_time(obj) else self.settings.poll_min_seconds
        uid = obj["metadata"]["uid"]
        own, searched_at = self.poller.find(project, location, UID_LABEL, uid, max_age)
        if len(own) > 1:
            log.error(
                "more than one tuning job carries this resource's uid label; following the oldest",
                extra={"jobs": [j.name for j in own]},
            )
        job = choose_by_uid(own)
        if job is not None:
            return job, "uid", searched_at
        if spec.adoption_policy == "Never":
            return None, None, searched_at
        identity = self._identity(obj, spec, project, location)
        same, searched_at = self.poller.find(project, location, IDENTITY_LABEL, identity, max_age)
        job = choose_by_identity(same)
        return (job, "identity", searched_at) if job is not None else (None, None, searched_at)

    def _identity(self, obj: JsonObject, spec: TuningJobSpec, project: str, location: str) -> str:
        meta = obj["metadata"]
        return identity_of(
            meta["namespace"],
            meta["name"],
            spec,
            project=project,
            location=location,
            fleet=self.settings.fleet_name,
        )

    def _get_imported(self, name: str) -> TuningJob:
        """An imported job is not in the operator's listings (it has none of its labels): read it."""
        try:
            return self.client.get_tuning_job(name)
        except NotFoundError as err:
            raise SpecError(
                Reason.NOT_FOUND,
                f"spec.jobName: tuning job {name} does not exist, or the operator's Google identity may not "
                f"read it ({err.message}); nothing is created for an imported job",
                retry_after=300.0,
            ) from err

    def _name_of(self, uid: str) -> str | None:
        with self._lock:
            return self._names.get(uid)

    def _remember_name(self, uid: str, name: str) -> None:
        with self._lock:
            self._names[uid] = name

    def _interval(self, status: JsonObject) -> float:
        started = status.get("startTime") or status.get("createTime")
        if not started:
            return self.settings.poll_min_seconds
        age = (self._now() - _parse_time(started)).total_seconds()
        return min(self.settings.poll_max_seconds, max(self.settings.poll_min_seconds, age / 10))

    def _observe_job(
        self, obj: JsonObject, project: str, location: str, job: TuningJob, *, read_metrics: bool = True
    ) -> Observation:
        status = obj.get("status") or {}
        fields = _job_status(job, project, location)
        if job.pre_tuned_model is not None:
            ref = ((obj.get("spec") or {}).get("preTunedModel") or {}).get("tuningJobRef") or {}
            started_from = {
                "tunedModelName": job.pre_tuned_model.tuned_model_name or None,
                "checkpointId": job.pre_tuned_model.checkpoint_id,
                "baseModel": job.pre_tuned_model.base_model,
                "tuningJob": ref.get("name"),
            }
            fields["preTunedModel"] = {k: v for k, v in started_from.items() if v}
        phase, reason = _PHASES.get(job.state, (Phase.UNKNOWN, Reason.API_ERROR))
        reading = self._read_metrics(project, location, job, phase, status) if read_metrics else None
        # What was read goes to Prometheus; what goes to status is `latest` when it is due (see above).
        latest = status.get("latestMetrics")
        if reading is not None:
            latest = _metrics_status(reading.metrics, reading.read_at) or latest
            written = status.get("latestMetrics")
            due = phase.terminal or _metrics_due(written, latest, self._now(), self.settings)
            fields["latestMetrics"] = latest if due else written
        if phase.terminal and not _metrics_read_after(fields.get("latestMetrics"), fields.get("endTime")):
            # The final read found nothing (or failed): record that it happened, so a finished job is never
            # polled again for metrics it will not get.
            fields["latestMetrics"] = {
                **(fields.get("latestMetrics") or status.get("latestMetrics") or {}),
                "readTime": format_timestamp(self._now()),
            }
        fields["progress"] = _progress(fields, status, _epoch_count(job))
        changed = job.state != status.get("state")
        if phase.terminal:
            poll_after = None
        elif changed:
            poll_after = self.settings.poll_min_seconds
        else:
            poll_after = self._interval(fields)
        endpoint = job.tuned_model.endpoint if job.tuned_model else ""
        model = job.tuned_model.model if job.tuned_model else ""
        ready = phase is Phase.SUCCEEDED and bool(endpoint)
        stats = fields.get("tuningDataStats") or status.get("tuningDataStats")
        dropped = dropped_event(status.get("tuningDataStats"), fields.get("tuningDataStats"))
        return Observation(
            exists=True,
            phase=phase,
            reason=reason,
            message=_with_note(_message(job, phase, fields), dropped_note(stats)),
            status=fields,
            events=[dropped] if dropped else [],
            ready=ready,
            outputs={"tuningJob": job.name, "model": model, "endpoint": endpoint} if ready else {},
            poll_after=poll_after,
            train_loss=(latest or {}).get("trainTotalLoss"),
            validation_loss=(latest or {}).get("evalTotalLoss"),
        )

    def _from_status(self, status: JsonObject) -> Observation:
        """A terminal job as status recorded it: no call to Google."""
        state = status["state"]
        phase, reason = _PHASES[state]
        tuned = status.get("tunedModel") or {}
        ready = phase is Phase.SUCCEEDED and bool(tuned.get("endpoint"))
        error = (status.get("error") or {}).get("message", "")
        return Observation(
            exists=True,
            phase=phase,
            reason=reason,
            message=_with_note(
                _terminal_message(state, phase, tuned.get("model", ""), tuned.get("endpoint", ""), error),
                dropped_note(status.get("tuningDataStats")),
            ),
            status={"state": state, "name": status.get("name")},
            ready=ready,
            outputs={
                "tuningJob": status["name"],
                "model": tuned.get("model", ""),
                "endpoint": tuned["endpoint"],
            }
            if ready
            else {},
            train_loss=(status.get("latestMetrics") or {}).get("trainTotalLoss"),
            validation_loss=(status.get("latestMetrics") or {}).get("evalTotalLoss"),
        )

    def _read_metrics(
        self, project: str, location: str, job: TuningJob, phase: Phase, status: JsonObject
    ) -> MetricsReading | None:
        """Metrics while running (shared, batched refreshes) and once more when the job has ended."""
        if phase is Phase.PENDING or not job.experiment:
            return None
        try:
            if phase.terminal:
                return self.metrics.final(project, location, job)
            return self.metrics.latest(project, location, job, self._metrics_interval(status))
        except GoogleAPIError as err:
            log.warning("could not read the metrics of %s: %s", job.name, err.message)
            return None

    def _metrics_interval(self, status: JsonObject) -> float:
        """Read often while a job is young, then less often: losses move slowly on long jobs."""
        started = status.get("startTime")
        if not started:
            return self.settings.metrics_interval_seconds
        age = (self._now() - _parse_time(started)).total_seconds()
        return min(
            self.settings.metrics_interval_seconds * 5, max(self.settings.metrics_interval_seconds, age / 5)
        )


def _spec(obj: JsonObject) -> TuningJobSpec:
    try:
        return TuningJobSpec.model_validate(obj.get("spec") or {})
    except ValidationError as err:
        first = err.errors()[0]
        where = "spec." + ".".join(str(p) for p in first["loc"])
        raise SpecError(Reason.INVALID_SPEC, f"{where}: {first['msg']}") from err


def _spec_matched(spec: TuningJobSpec, job: TuningJob) -> tuple[ConditionType, str, Reason, str]:
    differences = import_differences(spec, job)
    if not differences:
        return (ConditionType.SPEC_MATCHED, "True", Reason.SPEC_MATCHES, "")
    return (
        ConditionType.SPEC_MATCHED,
        "False",
        Reason.SPEC_MISMATCH,
        f"the imported job {job.name} differs from the spec: " + "; ".join(differences),
    )


def _create_body(obj: JsonObject, identity: str, source: PreTunedSource | None) -> dict[str, Any]:
    spec = obj["spec"]
    body: dict[str, Any] = {
        key: spec[key]
        for key in (
            "baseModel",
            "supervisedTuningSpec",
            # v1 one-of `tuning_spec` (discovery revision 20261106): the CRD lets exactly one of the two in
            "preferenceOptimizationSpec",
            "tunedModelDisplayName",
            "description",
            "encryptionSpec",
            "serviceAccount",
        )
        if spec.get(key) is not None
    }
    if source is not None:
        body["preTunedModel"] = source.to_api()
    for key in ("supervisedTuningSpec", "preferenceOptimizationSpec"):
        hyper = (body.get(key) or {}).get("hyperParameters") or {}
        if "epochCount" in hyper:  # int64: a JSON string on the wire
            body[key] = {**body[key], "hyperParameters": {**hyper, "epochCount": str(hyper["epochCount"])}}
    body["labels"] = {
        **(spec.get("labels") or {}),
        MANAGED_BY_LABEL: MANAGED_BY_VALUE,
        UID_LABEL: obj["metadata"]["uid"],
        IDENTITY_LABEL: identity,
    }
    return body


def _job_status(job: TuningJob, project: str, location: str) -> JsonObject:
    def ts(value: datetime | None) -> str | None:
        return format_timestamp(value) if value else None

    fields: JsonObject = {
        "state": job.state,
        "name": job.name,
        "consoleURL": CONSOLE.format(location=location, id=job.job_id, project=project),
        "createTime": ts(job.create_time),
        "startTime": ts(job.start_time),
        "endTime": ts(job.end_time),
        "updateTime": ts(job.update_time),
        "experiment": job.experiment,
        "error": {"code": job.error.code, "message": job.error.message} if job.error else None,
    }
    if job.tuned_model and (job.tuned_model.model or job.tuned_model.endpoint):
        fields["tunedModel"] = {
            "model": job.tuned_model.model or None,
            "endpoint": job.tuned_model.endpoint or None,
            "checkpoints": [_checkpoint(c) for c in job.tuned_model.checkpoints] or None,
        }
        fields["tunedModel"] = {k: v for k, v in fields["tunedModel"].items() if v is not None}
    stats = job.tuning_data_stats.supervised_tuning_data_stats if job.tuning_data_stats else None
    if stats is not None:
        fields["tuningDataStats"] = {
            "tuningDatasetExampleCount": stats.tuning_dataset_example_count,
            "totalTuningCharacterCount": stats.total_tuning_character_count,
            "totalBillableTokenCount": stats.total_billable_token_count,
            "tuningStepCount": stats.tuning_step_count,
            **dropped_status(stats),
        }
    fields.update(sub_state_status(job, job.is_terminal))
    preference = job.tuning_data_stats.preference_optimization_data_stats if job.tuning_data_stats else None
    if preference is not None:
        fields["preferenceOptimizationDataStats"] = {
            "tuningDatasetExampleCount": preference.tuning_dataset_example_count,
            "totalBillableTokenCount": preference.total_billable_token_count,
            "tuningStepCount": preference.tuning_step_count,
        }
        if preference.dropped_example_indices:  # a partial sample, with one reason per index
            fields["preferenceOptimizationDataStats"].update(
                droppedExampleIndices=preference.dropped_example_indices,
                droppedExampleReasons=preference.dropped_example_reasons,
            )
    if job.evaluate_dataset_runs:
        fields["evaluateDatasetRuns"] = [_evaluation_run(run) for run in job.evaluate_dataset_runs]
    return fields


# AggregationResult's metric-value fields (v1 discovery) and the short name status gives each.
_METRIC_VALUES = (
    ("bleu_metric_value", "bleu"),
    ("rouge_metric_value", "rouge"),
    ("exact_match_metric_value", "exactMatch"),
    ("pointwise_metric_result", "pointwise"),
    ("pairwise_metric_result", "pairwise"),
    ("custom_code_execution_result", "customCodeExecution"),
)


def _evaluation_run(run: EvaluateDatasetRun) -> JsonObject:
    """An evaluation as status shows it: where its results are and the aggregated scores, or its error."""
    response = run.evaluate_dataset_response
    fields: JsonObject = {
        "checkpointId": run.checkpoint_id,
        "evaluationRun": run.evaluation_run,
        "operationName": run.operation_name,
        "outputDirectory": response.output_info.gcs_output_directory
        if response and response.output_info
        else None,
        "error": {"code": run.error.code, "message": run.error.message} if run.error else None,
    }
    results: list[JsonObject] = []
    aggregated = response.aggregation_output if response else None
    for result in aggregated.aggregation_results if aggregated else []:
        for attribute, metric in _METRIC_VALUES:
            value = getattr(result, attribute)
            if value is None:
                continue
            entry: JsonObject = {"metric": metric, "aggregationMetric": result.aggregation_metric}
            if isinstance(value.get("score"), int | float):
                entry["score"] = float(value["score"])
            if value.get("pairwiseChoice"):
                entry["pairwiseChoice"] = str(value["pairwiseChoice"])
            results.append({k: v for k, v in entry.items() if v is not None})
    fields["results"] = results or None
    return {k: v for k, v in fields.items() if v is not None}


def _checkpoint(checkpoint: TunedModelCheckpoint) -> JsonObject:
    """A checkpoint as status shows it; an intermediate one has no endpoint, so none is written."""
    fields: JsonObject = {
        "checkpointId": checkpoint.checkpoint_id,
        "epoch": checkpoint.epoch,
        "step": checkpoint.step,
    }
    if checkpoint.endpoint:
        fields["endpoint"] = checkpoint.endpoint
    return fields


def _metrics_status(metrics: TuningMetrics, now: datetime) -> JsonObject | None:
    points = {
        "trainTotalLoss": metrics.train_total_loss,
        "evalTotalLoss": metrics.eval_total_loss,
        "trainTokenAccuracy": metrics.train_accuracy,
        "evalTokenAccuracy": metrics.eval_accuracy,
        "trainNumPredictions": metrics.train_num_predictions,
        "evalNumPredictions": metrics.eval_num_predictions,
    }
    present = {k: p for k, p in points.items() if p is not None}
    if not present:
        return None
    result: JsonObject = {k: p.value for k, p in present.items()}
    result["step"] = max(p.step for p in present.values())
    result["readTime"] = format_timestamp(now)
    return result


def _metrics_due(
    written: JsonObject | None, latest: JsonObject | None, now: datetime, settings: VertexSettings
) -> bool:
    """Whether a running job's new metrics go to status now: its first values, a value of a kind status
    does not show yet (the first evaluation), or what status shows was read `metrics_status_seconds` ago."""
    if not written or not latest:
        return bool(latest)
    if set(latest) - set(written):
        return True
    read = written.get("readTime")
    return not read or (now - _parse_time(read)).total_seconds() >= settings.metrics_status_seconds


def _progress(fields: JsonObject, status: JsonObject, epochs: int | None) -> str | None:
    """From the latest metrics' step, else from Vertex AI's count of completed epochs (v1beta1)."""
    if fields.get("state") == "JOB_STATE_SUCCEEDED":
        return "100%"
    stats = fields.get("tuningDataStats") or fields.get("preferenceOptimizationDataStats") or {}
    total = stats.get("tuningStepCount") or 0
    metrics = fields.get("latestMetrics") or status.get("latestMetrics") or {}
    step = metrics.get("step")
    if total and step is not None:
        return f"{min(100, round(100 * step / total))}%"
    done = (fields.get("tuningJobMetadata") or {}).get("completedEpochCount")
    if done and epochs:
        return f"{min(100, round(100 * done / epochs))}%"
    return status.get("progress")


def _epoch_count(job: TuningJob) -> int | None:
    """The epochs the job runs, as Vertex AI reports them (it fills in its choice when the spec has none)."""
    hyper = job.supervised_tuning_spec.hyper_parameters if job.supervised_tuning_spec else None
    return hyper.epoch_count if hyper is not None else None


def _with_note(message: str, note: str) -> str:
    return f"{message}. {note}" if note and message else message or note


def _final_metrics_read(status: JsonObject) -> bool:
    """Whether status holds metrics read after the job ended (or the job never ran, so there are none)."""
    if not status.get("startTime"):
        return True
    return _metrics_read_after(status.get("latestMetrics"), status.get("endTime"))


def _metrics_read_after(metrics: JsonObject | None, end: str | None) -> bool:
    read = (metrics or {}).get("readTime")
    return bool(read and end and _parse_time(read) >= _parse_time(end))


def _message(job: TuningJob, phase: Phase, fields: JsonObject) -> str:
    detail = sub_state_phrase(
        fields.get("tuningJobState"),
        (fields.get("tuningJobMetadata") or {}).get("completedEpochCount"),
        _epoch_count(job),
    )
    if phase is Phase.PENDING:
        return f"tuning job {job.name} is queued ({job.state}){detail}"
    if phase is Phase.RUNNING:
        return f"tuning job {job.name} is running{detail}"
    if phase is Phase.UNKNOWN:
        return f"tuning job {job.name} is in a state this operator does not know: {job.state}"
    model = job.tuned_model.model if job.tuned_model else ""
    endpoint = job.tuned_model.endpoint if job.tuned_model else ""
    error = job.error.message if job.error else ""
    return _terminal_message(job.state, phase, model, endpoint, error)


def _terminal_message(state: str, phase: Phase, model: str, endpoint: str, error: str) -> str:
    if phase is Phase.SUCCEEDED:
        if not endpoint:
            return "tuning job succeeded but Vertex AI reported no endpoint for the tuned model"
        return f"tuned model {model} is served at {endpoint}"
    if phase is Phase.CANCELLING:
        return "tuning job is being cancelled"
    detail = f": {error}" if error else ""
    return f"tuning job ended in {state}{detail}"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
