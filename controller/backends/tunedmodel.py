"""The Gemini API tuned model behind a `TunedModel` resource.

Finding the model needs no search: its ID is chosen by us (spec.tunedModelId, else metadata.name), so
`tunedModels.get` answers whether it exists, before a create, after one, and after a crash between the two.
A create that already landed is refused with ALREADY_EXISTS and the model is adopted instead.

While the model is CREATING its progress comes from the create operation (steps, percent, loss snapshots).
Unlike a tuning job, an ACTIVE model is never left alone: its patchable fields (display name, description,
sampling defaults, readers) are compared with the spec on every reconcile, and a difference, from a change in
Git or an edit made outside Kubernetes, is patched back with an update mask naming only what differs. The
manager's periodic resync is what brings an ACTIVE model back here.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import google.auth.exceptions
from pydantic import ValidationError

from controller.api.base import format_timestamp
from controller.api.conditions import Reason
from controller.api.tunedmodel import MAX_SNAPSHOTS, TunedModel
from controller.backends.gemini_clients import GeminiClients
from controller.backends.kube_refs import ObjectReader, read_secret_key
from controller.backends.test_prompts import answer_prompts
from controller.backends.training_data import training_examples
from controller.external import CreateCheck, JsonObject, Observation, Phase, SpecError
from controller.google.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    NotFoundError,
)
from controller.google.gemini import GeminiClient
from controller.google.models_gemini import (
    STATE_ACTIVE,
    STATE_CREATING,
    STATE_FAILED,
    GeminiTunedModel,
    Operation,
    TuningSnapshot,
)

log = logging.getLogger(__name__)

_PHASES: dict[str, tuple[Phase, Reason]] = {
    STATE_CREATING: (Phase.RUNNING, Reason.MODEL_CREATING),
    STATE_ACTIVE: (Phase.SUCCEEDED, Reason.MODEL_ACTIVE),
    STATE_FAILED: (Phase.FAILED, Reason.MODEL_FAILED),
}

#: Where a model that has vanished remotely looks again (it will not come back on its own).
VANISHED_RETRY_SECONDS = 300.0


@dataclass(frozen=True)
class TunedModelSettings:
    """How often a CREATING model is polled: `poll_min_seconds` while young, a tenth of its age later, at
    most `poll_max_seconds`. An ACTIVE or FAILED model is not polled; the manager's resync re-reads it."""

    poll_min_seconds: float = 15.0
    poll_max_seconds: float = 300.0


class TunedModelBackend:
    noun = "tuned model"

    def __init__(
        self,
        clients: GeminiClients,
        read: ObjectReader,
        settings: TunedModelSettings | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.clients = clients
        self.settings = settings or TunedModelSettings()
        self._read = read
        self._now = now
        self._lock = threading.Lock()
        # uid -> create operation name, for models this process created: the progress lives on the
        # operation, and a status write that recorded its name may not have reached the cache yet.
        self._operations: dict[str, str] = {}

    # -- ExternalClient ------------------------------------------------------------------------------------

    def observe(self, obj: JsonObject) -> Observation:
        resource = _resource(obj)
        client = self._client(obj, resource)
        name = _model_name(resource)
        status = obj.get("status") or {}
        deleting = bool(obj["metadata"].get("deletionTimestamp"))
        try:
            remote = client.get_tuned_model(name)
        except NotFoundError:
            if deleting:
                return Observation(exists=False)
            if status.get("name"):
                raise SpecError(
                    Reason.NOT_FOUND,
                    f"tuned model {name} no longer exists in the Gemini API (deleted outside Kubernetes); "
                    "delete and re-create this resource to tune again",
                    retry_after=VANISHED_RETRY_SECONDS,
                ) from None
            # About to be created: check the training data now, before the create intent is recorded, so
            # a missing ConfigMap or a bad line stalls the resource without a pending create.
            training_examples(resource.spec.tuning_task.training_data, _namespace(obj), self._read)
            return Observation(exists=False)
        observation = self._observe_model(obj, resource, client, remote, None)
        if not status.get("name"):
            # The model's ID (spec.tunedModelId, else metadata.name) is its identity: the same manifest
            # finds the same model after a restart, in a rebuilt cluster, or after being re-created.
            log.info("found tuned model %s (created before a restart, or adopted)", remote.name)
            observation.found_by = "identity"
        return observation

    def check_before_create(self, obj: JsonObject) -> CreateCheck:
        return CreateCheck()  # the training examples are checked while the create request is built

    def create(self, obj: JsonObject) -> Observation:
        resource = _resource(obj)
        client = self._client(obj, resource)
        body = _create_body(
            resource, training_examples(resource.spec.tuning_task.training_data, _namespace(obj), self._read)
        )
        model_id = resource.remote_id()
        try:
            operation = client.create_tuned_model(body, tuned_model_id=model_id)
        except AlreadyExistsError:
            # A create that landed before a crash (or a lost answer): adopt that model, never make another.
            log.info("tuned model %s already exists: adopting it", _model_name(resource))
            return self.observe(obj)
        with self._lock:
            self._operations[_uid(obj)] = operation.name
        remote = client.get_tuned_model(operation.tuned_model_name)
        return self._observe_model(obj, resource, client, remote, operation)

    def update(self, obj: JsonObject, observation: Observation) -> Observation:
        resource = _resource(obj)
        client = self._client(obj, resource)
        remote = client.get_tuned_model(_model_name(resource))
        changes = differences(resource, remote)
        if changes and remote.state != STATE_FAILED:
            log.info("patching tuned model %s: %s", remote.name, ", ".join(changes))
            remote = client.patch_tuned_model(remote.name, changes, list(changes))
        return self._observe_model(obj, resource, client, remote, None)

    def delete(self, obj: JsonObject, observation: Observation) -> bool:
        resource = _resource(obj)
        client = self._client(obj, resource)
        name = observation.status.get("name") or _model_name(resource)
        try:
            client.delete_tuned_model(name)
        except NotFoundError:
            pass  # gone already: that is what deleting was for
        except FailedPreconditionError:
            # The service may refuse to delete a model still being tuned; the reconciler asks again soon.
            log.info("delete of %s refused while it is %s; retrying", name, observation.status.get("state"))
            return False
        return True

    def orphan_on_delete(self, obj: JsonObject) -> bool:
        return bool((obj.get("spec") or {}).get("deletionPolicy") == "Orphan")

    def run_test_prompts(self, obj: JsonObject, observation: Observation) -> list[JsonObject]:
        resource = _resource(obj)
        client = self._client(obj, resource)
        model = observation.outputs.get("model") or _model_name(resource)
        return answer_prompts(
            obj["spec"].get("testPrompts") or [],
            lambda text, config: client.generate_content(model, text, generation_config=config),
            self._now,
        )

    def forget(self, obj: JsonObject) -> None:
        uid = _uid(obj)
        with self._lock:
            self._operations.pop(uid, None)
        self.clients.forget(uid)

    # -- helpers -------------------------------------------------------------------------------------------

    def _client(self, obj: JsonObject, resource: TunedModel) -> GeminiClient:
        ref = resource.spec.api_key_secret_ref
        api_key = (
            read_secret_key(self._read, _namespace(obj), ref.name, ref.key, "spec.apiKeySecretRef")
            if ref is not None
            else None
        )
        try:
            return self.clients.client_for(_uid(obj), api_key)
        except google.auth.exceptions.DefaultCredentialsError as err:
            raise SpecError(
                Reason.PERMISSION_DENIED,
                "spec.apiKeySecretRef: not set, and the operator has no Google credentials of its own "
                "(Application Default Credentials not found); set apiKeySecretRef or give the operator an "
                "identity",
            ) from err

    def _observe_model(
        self,
        obj: JsonObject,
        resource: TunedModel,
        client: GeminiClient,
        remote: GeminiTunedModel,
        operation: Operation | None,
    ) -> Observation:
        status = obj.get("status") or {}
        with self._lock:
            operation_name = (
                operation.name if operation else status.get("operation") or self._operations.get(_uid(obj))
            )
        needs_operation = remote.state == STATE_CREATING or (
            remote.state == STATE_FAILED and not status.get("error")
        )
        if operation is None and operation_name and needs_operation:
            try:
                operation = client.get_operation(operation_name)
            except NotFoundError:
                log.info("create operation %s is gone; progress comes from the model alone", operation_name)
        fields = _model_status(remote, operation_name)
        fields.update(_progress(remote, operation, status))
        if remote.state == STATE_FAILED:
            error = operation.error if operation is not None else None
            fields["error"] = (
                {"code": error.code, "message": error.message} if error is not None else status.get("error")
            )
        else:
            fields["error"] = None
        phase, reason = _PHASES.get(remote.state, (Phase.UNKNOWN, Reason.API_ERROR))
        changed = remote.state != status.get("state")
        if phase.terminal:
            poll_after = None
        elif changed or phase is Phase.UNKNOWN:
            poll_after = self.settings.poll_min_seconds
        else:
            poll_after = self._interval(remote)
        ready = phase is Phase.SUCCEEDED
        return Observation(
            exists=True,
            phase=phase,
            reason=reason,
            message=_message(remote, phase, fields),
            status=fields,
            up_to_date=remote.state == STATE_FAILED or not differences(resource, remote),
            ready=ready,
            outputs={"model": remote.name} if ready else {},
            poll_after=poll_after,
            train_loss=_latest_loss(fields),
        )

    def _interval(self, remote: GeminiTunedModel) -> float:
        if remote.create_time is None:
            return self.settings.poll_min_seconds
        age = (self._now() - remote.create_time).total_seconds()
        return min(self.settings.poll_max_seconds, max(self.settings.poll_min_seconds, age / 10))


# -- pure functions ------------------------------------------------------------------------------------------


def differences(resource: TunedModel, remote: GeminiTunedModel) -> dict[str, Any]:
    """The patchable fields whose spec value differs from the model's, as `tunedModels.patch` takes them.

    A field left out of the spec is not managed: the model keeps whatever the Gemini API gave it (the
    sampling defaults come from the base model). An empty description or reader list in the spec clears
    the remote one.
    """
    spec = resource.spec
    changes: dict[str, Any] = {}
    if spec.display_name is not None and spec.display_name != (remote.display_name or ""):
        changes["displayName"] = spec.display_name
    if spec.description is not None and spec.description != (remote.description or ""):
        changes["description"] = spec.description
    for key, wanted, actual in (
        ("temperature", spec.temperature, remote.temperature),
        ("topP", spec.top_p, remote.top_p),
    ):
        # float on the wire (32 bits): 0.7 may come back as 0.699999988.
        if wanted is not None and (actual is None or not math.isclose(wanted, actual, rel_tol=1e-6)):
            changes[key] = wanted
    if spec.top_k is not None and spec.top_k != remote.top_k:
        changes["topK"] = spec.top_k
    readers = spec.reader_project_numbers
    if readers is not None and set(readers) != {int(r) for r in remote.reader_project_numbers}:
        changes["readerProjectNumbers"] = [str(r) for r in sorted(set(readers))]
    return changes


def _resource(obj: JsonObject) -> TunedModel:
    try:
        return TunedModel.model_validate(
            {"metadata": {"name": obj["metadata"]["name"]}, "spec": obj.get("spec") or {}}
        )
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        raise SpecError(Reason.INVALID_SPEC, f"{where}: {first['msg']}") from err


def _create_body(resource: TunedModel, examples: list[dict[str, str]]) -> JsonObject:
    spec = resource.spec
    task: JsonObject = {"trainingData": {"examples": {"examples": examples}}}
    if spec.tuning_task.hyperparameters is not None:
        task["hyperparameters"] = spec.tuning_task.hyperparameters.to_k8s()
    body: JsonObject = {"tuningTask": task}
    if spec.tuned_model_source is not None:
        body["tunedModelSource"] = {"tunedModel": spec.tuned_model_source.tuned_model}
    else:
        body["baseModel"] = spec.base_model
    optional = {
        "displayName": spec.display_name,
        "description": spec.description,
        "temperature": spec.temperature,
        "topP": spec.top_p,
        "topK": spec.top_k,
        "readerProjectNumbers": [str(r) for r in spec.reader_project_numbers]
        if spec.reader_project_numbers is not None
        else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def _model_status(remote: GeminiTunedModel, operation_name: str | None) -> JsonObject:
    task = remote.tuning_task
    return {
        "name": remote.name,
        "state": remote.state,
        "operation": operation_name,
        "createTime": _ts(remote.create_time),
        "updateTime": _ts(remote.update_time),
        "startTime": _ts(task.start_time if task else None),
        "completeTime": _ts(task.complete_time if task else None),
    }


def _progress(remote: GeminiTunedModel, operation: Operation | None, status: JsonObject) -> JsonObject:
    """Steps, percent and the latest snapshots: from the operation when known, else from the model."""
    snapshots = list(remote.tuning_task.snapshots) if remote.tuning_task else []
    total: int | None = status.get("totalSteps")
    completed = snapshots[-1].step if snapshots else 0
    percent: float | None = None
    metadata = operation.metadata if operation is not None else None
    if metadata is not None:
        total = metadata.total_steps or total
        completed = max(completed, metadata.completed_steps)
        percent = metadata.completed_percent
        if len(metadata.snapshots) >= len(snapshots):
            snapshots = list(metadata.snapshots)
    if remote.state == STATE_ACTIVE:
        completed = max(completed, total or 0)
        percent = 100.0
    elif percent is None and total:
        percent = 100.0 * completed / total
    return {
        "totalSteps": total,
        "completedSteps": completed,
        "completedPercent": round(percent, 2) if percent is not None else status.get("completedPercent"),
        "snapshots": [_snapshot(s) for s in snapshots[-MAX_SNAPSHOTS:]] or status.get("snapshots"),
    }


def _snapshot(snapshot: TuningSnapshot) -> JsonObject:
    out: JsonObject = {"step": snapshot.step, "epoch": snapshot.epoch}
    if snapshot.mean_loss is not None:
        out["meanLoss"] = snapshot.mean_loss
    if snapshot.compute_time is not None:
        out["computeTime"] = format_timestamp(snapshot.compute_time)
    return out


def _message(remote: GeminiTunedModel, phase: Phase, fields: JsonObject) -> str:
    if phase is Phase.RUNNING:
        total, done = fields.get("totalSteps"), fields.get("completedSteps")
        where = f" (step {done} of {total})" if total else ""
        return f"tuned model {remote.name} is being tuned{where}"
    if phase is Phase.SUCCEEDED:
        return f"tuned model {remote.name} is active"
    if phase is Phase.FAILED:
        error = (fields.get("error") or {}).get("message")
        return f"tuned model {remote.name} failed: {error or 'the Gemini API gave no reason'}"
    return f"tuned model {remote.name} is in a state this operator does not know: {remote.state}"


def _model_name(resource: TunedModel) -> str:
    return f"tunedModels/{resource.remote_id()}"


def _uid(obj: JsonObject) -> str:
    return str(obj["metadata"]["uid"])


def _namespace(obj: JsonObject) -> str:
    return str(obj["metadata"]["namespace"])


def _ts(value: datetime | None) -> str | None:
    return format_timestamp(value) if value else None


def _latest_loss(fields: JsonObject) -> float | None:
    """The mean loss of the newest snapshot: the Gemini API reports no separate validation loss."""
    snapshots = fields.get("snapshots") or []
    loss = snapshots[-1].get("meanLoss") if snapshots else None
    return float(loss) if isinstance(loss, int | float) else None
