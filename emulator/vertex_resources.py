"""The Endpoint and Model a successful tuning job leaves behind, and their removal: undeploy, delete endpoint,
delete model, each a long-running operation, in the order Vertex AI requires.

Facts relied on (REST discovery aiplatform.v1.json, revision 20261106, unless said otherwise):
- `endpoints.get` answers an Endpoint {name, displayName, deployedModels[{id, model, modelVersionId,
  displayName, createTime}], trafficSplit{deployedModelId: percent}, labels, createTime, updateTime}.
- `endpoints.undeployModel` (POST `{endpoint}:undeployModel`, body {deployedModelId, trafficSplit?}),
  `endpoints.delete` and `models.delete` (DELETE) answer a google.longrunning.Operation whose metadata is
  UndeployModelOperationMetadata / DeleteOperationMetadata, both {genericMetadata{createTime, updateTime}}.
  Operations are read at `{resource}/operations/{id}` or `projects/*/locations/*/operations/{id}`.
- A model deployed to an endpoint cannot be deleted, and an endpoint with deployed models cannot be deleted:
  undeploy first (Vertex docs and samples: "Prior to deleting, any model deployed to your Vertex AI Endpoint
  resource must first be undeployed"; API-NOTES G.2). The exact error wording is unconfirmed; the status is
  FAILED_PRECONDITION (400).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

from emulator.apierror import ApiError, failed_precondition, not_found
from emulator.clock import SimClock, rfc3339
from emulator.vertex_jobs import SUCCEEDED, Job, VertexJobs, new_numeric_id, phase_at

#: Simulated seconds an undeploy or delete operation runs before it is done.
OPERATION_SECONDS = 5.0
_V1 = "type.googleapis.com/google.cloud.aiplatform.v1."


@dataclass
class Operation:
    name: str
    metadata_type: str
    response: dict[str, Any]
    created: float
    done_at: float


@dataclass
class _Removal:
    """When (simulated) each piece of one job's output stops existing; None = still there."""

    undeployed_at: float | None = None
    endpoint_deleted_at: float | None = None
    model_deleted_at: float | None = None
    operations: list[str] = field(default_factory=list)


def deployed_model_id(job: Job) -> str:
    """The DeployedModel id of the tuned model on its endpoint (stable, distinct from the model id)."""
    return str((int(job.model_id) * 7 + 3) % (9 * 10**18) + 10**17)


class TunedResources:
    """Endpoints and models of succeeded jobs, and the operations that remove them; thread-safe."""

    def __init__(self, jobs: VertexJobs, clock: SimClock, rng: random.Random) -> None:
        self._jobs = jobs
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self._removals: dict[str, _Removal] = {}
        self._operations: dict[str, Operation] = {}

    # -- reads -------------------------------------------------------------------------------------------

    def _succeeded(self, job: Job | None) -> Job | None:
        if job is None or phase_at(job, self._clock.now()).state != SUCCEEDED:
            return None
        return job

    def _removal(self, job: Job) -> _Removal:
        return self._removals.setdefault(job.job_id, _Removal())

    @staticmethod
    def _past(moment: float | None, now: float) -> bool:
        return moment is not None and now >= moment

    def endpoint_job(self, project: str, location: str, endpoint_id: str) -> Job:
        job = self._succeeded(self._jobs.by_endpoint(project, location, endpoint_id))
        with self._lock:
            gone = job is None or self._past(self._removal(job).endpoint_deleted_at, self._clock.now())
        if job is None or gone:
            raise not_found(
                f"Endpoint projects/{project}/locations/{location}/endpoints/{endpoint_id} not found."
            )
        return job

    def serving(self, project: str, location: str, endpoint_id: str) -> Job | None:
        """The job whose tuned model the endpoint serves, or None once undeployed or deleted."""
        try:
            job = self.endpoint_job(project, location, endpoint_id)
        except ApiError:
            return None
        with self._lock:
            undeployed = self._past(self._removal(job).undeployed_at, self._clock.now())
        return None if undeployed else job

    def get_endpoint(self, project: str, location: str, endpoint_id: str) -> dict[str, Any]:
        job = self.endpoint_job(project, location, endpoint_id)
        now = self._clock.now()
        with self._lock:
            removal = self._removal(job)
            deployed = not self._past(removal.undeployed_at, now)
        created = job.run_start + job.total_steps * job.step_seconds
        out: dict[str, Any] = {
            "name": job.endpoint,
            "displayName": str(job.spec.get("tunedModelDisplayName") or f"tuned-{job.job_id}"),
            "createTime": rfc3339(created),
            "updateTime": rfc3339(
                removal.undeployed_at if not deployed and removal.undeployed_at else created
            ),
        }
        if deployed:
            out["deployedModels"] = [
                {
                    "id": deployed_model_id(job),
                    "model": f"{job.parent}/models/{job.model_id}",
                    "modelVersionId": "1",
                    "displayName": out["displayName"],
                    "createTime": rfc3339(created),
                }
            ]
            out["trafficSplit"] = {deployed_model_id(job): 100}
        if job.spec.get("labels"):
            out["labels"] = dict(job.spec["labels"])
        return out

    def model_job(self, project: str, location: str, model_id: str) -> Job:
        bare = model_id.split("@", 1)[0]
        for job in self._jobs.jobs_in(project, location):
            if job.model_id == bare and self._succeeded(job) is not None:
                with self._lock:
                    gone = self._past(self._removal(job).model_deleted_at, self._clock.now())
                if not gone:
                    return job
        raise not_found(f"Model projects/{project}/locations/{location}/models/{model_id} not found.")

    def get_model(self, project: str, location: str, model_id: str) -> dict[str, Any]:
        job = self.model_job(project, location, model_id)
        created = rfc3339(job.run_start + job.total_steps * job.step_seconds)
        out: dict[str, Any] = {
            "name": f"{job.parent}/models/{job.model_id}",
            "displayName": str(job.spec.get("tunedModelDisplayName") or f"tuned-{job.job_id}"),
            "versionId": "1",
            "versionAliases": ["default"],
            "createTime": created,
            "updateTime": created,
        }
        if self.serving(job.project, job.location, job.endpoint_id) is not None:
            out["deployedModels"] = [{"endpoint": job.endpoint, "deployedModelId": deployed_model_id(job)}]
        if job.spec.get("labels"):
            out["labels"] = dict(job.spec["labels"])
        return out

    # -- removals ----------------------------------------------------------------------------------------

    def undeploy(self, project: str, location: str, endpoint_id: str, body: Any) -> dict[str, Any]:
        job = self.endpoint_job(project, location, endpoint_id)
        wanted = str(body.get("deployedModelId", "")) if isinstance(body, dict) else ""
        with self._lock:
            removal = self._removal(job)
            if wanted != deployed_model_id(job) or removal.undeployed_at is not None:
                raise not_found(f"DeployedModel {wanted} not found in Endpoint {job.endpoint}.")
            operation = self._start(
                f"{job.endpoint}/operations",
                "UndeployModelOperationMetadata",
                {"@type": _V1 + "UndeployModelResponse"},
                removal,
            )
            removal.undeployed_at = operation.done_at
        return self.render(operation)

    def delete_endpoint(self, project: str, location: str, endpoint_id: str) -> dict[str, Any]:
        job = self.endpoint_job(project, location, endpoint_id)
        with self._lock:
            removal = self._removal(job)
            if not self._past(removal.undeployed_at, self._clock.now()):
                raise failed_precondition(
                    f"Endpoint {job.endpoint} has deployed models: undeploy DeployedModel "
                    f"{deployed_model_id(job)} before deleting the endpoint."
                )
            if removal.endpoint_deleted_at is not None:
                raise not_found(f"Endpoint {job.endpoint} not found.")
            operation = self._start(
                f"{job.parent}/operations",
                "DeleteOperationMetadata",
                {"@type": "type.googleapis.com/google.protobuf.Empty"},
                removal,
            )
            removal.endpoint_deleted_at = operation.done_at
        return self.render(operation)

    def delete_model(self, project: str, location: str, model_id: str) -> dict[str, Any]:
        job = self.model_job(project, location, model_id)
        with self._lock:
            removal = self._removal(job)
            if not self._past(removal.undeployed_at, self._clock.now()):
                raise failed_precondition(
                    f'The Model "{job.parent}/models/{job.model_id}" is deployed or being deployed at the '
                    f"following Endpoint(s): {job.endpoint}. Undeploy it before deleting the model."
                )
            if removal.model_deleted_at is not None:
                raise not_found(f"Model {job.parent}/models/{job.model_id} not found.")
            operation = self._start(
                f"{job.parent}/operations",
                "DeleteOperationMetadata",
                {"@type": "type.googleapis.com/google.protobuf.Empty"},
                removal,
            )
            removal.model_deleted_at = operation.done_at
        return self.render(operation)

    def _start(self, prefix: str, metadata: str, response: dict[str, Any], removal: _Removal) -> Operation:
        now = self._clock.now()
        name = f"{prefix}/{new_numeric_id(self._rng)}"
        operation = Operation(name, metadata, response, now, now + OPERATION_SECONDS)
        self._operations[name] = operation
        removal.operations.append(name)
        return operation

    def get_operation(self, name: str) -> dict[str, Any]:
        with self._lock:
            operation = self._operations.get(name)
            if operation is None:  # also readable under the location's operations collection
                short = name.rsplit("/", 1)[-1]
                operation = next((o for o in self._operations.values() if o.name.endswith("/" + short)), None)
        if operation is None:
            raise not_found(f"Operation {name} not found.")
        return self.render(operation)

    def render(self, operation: Operation) -> dict[str, Any]:
        """google.longrunning.Operation; `done` is left out while false (proto3 default)."""
        now = self._clock.now()
        done = now >= operation.done_at
        out: dict[str, Any] = {
            "name": operation.name,
            "metadata": {
                "@type": _V1 + operation.metadata_type,
                "genericMetadata": {
                    "createTime": rfc3339(operation.created),
                    "updateTime": rfc3339(operation.done_at if done else operation.created),
                },
            },
        }
        if done:
            out["done"] = True
            out["response"] = dict(operation.response)
        return out
