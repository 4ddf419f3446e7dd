"""Condition types, the reasons the operator may give, and the helper that records a condition.

Conditions follow the `metav1.Condition` shape so that `kubectl wait --for=condition=Ready`, Flux's kstatus
and Argo CD read them without custom code. The reasons are kept as data (`REASONS`) so the user guide can be
generated from the same list the operator uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from controller.api.base import StatusModel, Timestamp


class ConditionType(StrEnum):
    """The four condition types every vertexops resource carries, and SpecMatched on imported jobs."""

    READY = "Ready"  # the tuned model is usable: job succeeded, model and endpoint known
    RECONCILING = "Reconciling"  # work is under way (job pending or running, model being created)
    STALLED = "Stalled"  # no progress is possible without a change from the user
    SYNCED = "Synced"  # the last call to Google succeeded
    SPEC_MATCHED = "SpecMatched"  # an imported job has the inputs its spec states (TuningJob spec.jobName)


ConditionStatus = Literal["True", "False", "Unknown"]


class Reason(StrEnum):
    """CamelCase reasons; `REASONS` says what each means and what the user should do."""

    JOB_PENDING = "JobPending"
    JOB_RUNNING = "JobRunning"
    JOB_SUCCEEDED = "JobSucceeded"
    JOB_FAILED = "JobFailed"
    JOB_CANCELLED = "JobCancelled"
    JOB_EXPIRED = "JobExpired"
    CREATING = "Creating"
    DELETING = "Deleting"
    INVALID_SPEC = "InvalidSpec"
    PERMISSION_DENIED = "PermissionDenied"
    NOT_FOUND = "NotFound"
    API_ERROR = "APIError"
    RECONCILE_SUCCESS = "ReconcileSuccess"
    SECRET_NOT_FOUND = "SecretNotFound"  # noqa: S105 - a reason name, not a secret
    CONFIG_MAP_NOT_FOUND = "ConfigMapNotFound"
    MODEL_CREATING = "ModelCreating"
    MODEL_ACTIVE = "ModelActive"
    MODEL_FAILED = "ModelFailed"
    TEST_PROMPTS_FAILED = "TestPromptsFailed"
    PUBLISH_FAILED = "PublishFailed"
    ADOPTED = "Adopted"
    IMPORTED = "Imported"
    SPEC_MATCHES = "SpecMatches"
    SPEC_MISMATCH = "SpecMismatch"
    POLICY_DENIED = "PolicyDenied"
    NO_TENANT = "NoTenant"
    WAITING_FOR_TENANT_QUOTA = "WaitingForTenantQuota"
    INVALID_DATASET = "InvalidDataset"
    DATASET_CHECKED = "DatasetChecked"
    DATASET_WARNINGS = "DatasetWarnings"
    EXAMPLES_DROPPED = "ExamplesDropped"
    WAITING_FOR_DEPENDENCY = "WaitingForDependency"
    DEPENDENCY_CYCLE = "DependencyCycle"
    DEPENDENCY_FAILED = "DependencyFailed"
    OUTPUTS_DELETED = "OutputsDeleted"


@dataclass(frozen=True)
class ReasonDoc:
    """What a reason means and what a user should do about it (empty when nothing is needed)."""

    meaning: str
    action: str


REASONS: dict[Reason, ReasonDoc] = {
    Reason.JOB_PENDING: ReasonDoc(
        "The tuning job was accepted by Vertex AI and is queued or waiting for resources.",
        "Nothing; jobs can wait a while for capacity. Check quotas if it stays pending for hours.",
    ),
    Reason.JOB_RUNNING: ReasonDoc(
        "The tuning job is running; status shows the latest training metrics.",
        "Nothing; wait for it to finish.",
    ),
    Reason.JOB_SUCCEEDED: ReasonDoc(
        "The tuning job succeeded and the tuned model and its endpoint are ready to use.",
        "Use the model and endpoint named in status.tunedModel.",
    ),
    Reason.JOB_FAILED: ReasonDoc(
        "The tuning job failed; status.error holds Google's code and message.",
        "Fix the cause named in status.error, then create a new resource (the inputs are immutable).",
    ),
    Reason.JOB_CANCELLED: ReasonDoc(
        "The tuning job was cancelled, by the operator on deletion or by someone in the Cloud console.",
        "Create a new resource to tune again.",
    ),
    Reason.JOB_EXPIRED: ReasonDoc(
        "The tuning job expired before it could run.",
        "Check quotas and capacity in the region, then create a new resource.",
    ),
    Reason.CREATING: ReasonDoc(
        "The operator is creating the remote job or model.",
        "Nothing; this normally lasts seconds.",
    ),
    Reason.DELETING: ReasonDoc(
        "The resource is being deleted and the operator is applying its deletionPolicy.",
        "Nothing; the finalizer is removed once the remote side is cancelled, deleted or orphaned.",
    ),
    Reason.INVALID_SPEC: ReasonDoc(
        "Google rejected the spec as invalid (for example an adapter size the base model does not support).",
        "Correct the field named in the message; immutable inputs need a new resource.",
    ),
    Reason.PERMISSION_DENIED: ReasonDoc(
        "The operator's credentials lack a permission the call needs.",
        "Grant the permission named in the message to the operator's Google identity.",
    ),
    Reason.NOT_FOUND: ReasonDoc(
        "A Google resource the spec or status names does not exist (base model, job, bucket, key).",
        "Check the names in the spec; if the remote job was deleted outside Kubernetes, "
        "recreate the resource.",
    ),
    Reason.API_ERROR: ReasonDoc(
        "A transient error talking to Google (rate limit, server error or network); the operator retries.",
        "Nothing unless it persists; then check connectivity and quotas.",
    ),
    Reason.RECONCILE_SUCCESS: ReasonDoc(
        "The last call to Google succeeded and status reflects the remote state.",
        "Nothing.",
    ),
    Reason.SECRET_NOT_FOUND: ReasonDoc(
        "The Secret or key named by spec.apiKeySecretRef does not exist in the resource's namespace.",
        "Create the Secret with that key, or fix the reference; the operator retries.",
    ),
    Reason.CONFIG_MAP_NOT_FOUND: ReasonDoc(
        "The ConfigMap or key named by the training data reference does not exist in the namespace.",
        "Create the ConfigMap with that key, or fix the reference; the operator retries.",
    ),
    Reason.MODEL_CREATING: ReasonDoc(
        "The Gemini API is tuning the model; status shows the completed steps.",
        "Nothing; wait for it to finish.",
    ),
    Reason.MODEL_ACTIVE: ReasonDoc(
        "The tuned model is active and can serve requests.",
        "Use the model named in status.name.",
    ),
    Reason.MODEL_FAILED: ReasonDoc(
        "Tuning the model failed; status.error holds the reason.",
        "Fix the cause, then create a new resource (the training inputs are immutable).",
    ),
    Reason.TEST_PROMPTS_FAILED: ReasonDoc(
        "The model is ready but one or more test prompts returned an error; see status.testPromptResults.",
        "Read the per-prompt errors; the model itself may still be usable.",
    ),
    Reason.PUBLISH_FAILED: ReasonDoc(
        "The operator could not write the ConfigMap named in spec.publish.",
        "Make sure no other owner manages that ConfigMap and that the operator may write it.",
    ),
    Reason.ADOPTED: ReasonDoc(
        "(Event) An existing tuning job with this resource's identity or UID was found and is followed "
        "instead of creating a new one: a cluster rebuilt from Git, a resource re-created, or a restart.",
        "Nothing; set spec.adoptionPolicy: Never on a new resource to always create a new job.",
    ),
    Reason.IMPORTED: ReasonDoc(
        "(Event) The tuning job named by spec.jobName, created outside Kubernetes, is followed.",
        "Nothing.",
    ),
    Reason.SPEC_MATCHES: ReasonDoc(
        "(SpecMatched) The imported job has every input the spec states.",
        "Nothing.",
    ),
    Reason.SPEC_MISMATCH: ReasonDoc(
        "(SpecMatched) The imported job differs from the spec in the fields the message names; the job "
        "is reported as it is, and nothing is changed remotely (a tuning job cannot be changed).",
        "Correct the spec to describe the job, or remove those fields from it.",
    ),
    Reason.POLICY_DENIED: ReasonDoc(
        "The namespace's TuningTenant does not allow the field named in the message (project, location, "
        "service account, dataset, base model, epochs), or the namespace is covered by more than one "
        "TuningTenant. Nothing was sent to Google.",
        "Use a value the TuningTenant allows (create a new resource: the inputs are immutable), or ask the "
        "platform admin to change the TuningTenant; the operator acts on a change without a restart.",
    ),
    Reason.NO_TENANT: ReasonDoc(
        "The operator runs in strict tenancy mode and no TuningTenant covers this namespace, so it may "
        "create nothing on Google.",
        "Ask the platform admin to add the namespace to a TuningTenant.",
    ),
    Reason.WAITING_FOR_TENANT_QUOTA: ReasonDoc(
        "The tenant already has limits.maxActiveJobs jobs pending or running (or earlier jobs come first); "
        "no remote job was found for this one, and it waits with its place in line in the message. Nothing "
        "is created on Google until its turn.",
        "Nothing; it starts in creation order as earlier jobs finish or are deleted.",
    ),
    Reason.INVALID_DATASET: ReasonDoc(
        "The dataset preflight found errors in the training or validation JSONL (listed with file, line "
        "and field in status.preflight.problems); no job was created.",
        "Fix the lines and upload the file again: the new generation is checked and the job created "
        "without touching the resource. Or set spec.preflight.mode to WarnOnly or Skip.",
    ),
    Reason.DATASET_CHECKED: ReasonDoc(
        "The dataset preflight read the files and found no problem; status.preflight has the counts.",
        "Nothing.",
    ),
    Reason.DATASET_WARNINGS: ReasonDoc(
        "The dataset preflight found examples Vertex AI would truncate, drop or partly ignore; the job is "
        "created anyway (spec.preflight.strict makes them block).",
        "Look at status.preflight.problems and fix the data if the warnings matter.",
    ),
    Reason.EXAMPLES_DROPPED: ReasonDoc(
        "(Event) Vertex AI left some training examples out of the job (too many tokens, an invalid image, "
        "...); the job goes on without them. status.tuningDataStats has the count and a sample of the "
        "examples' line numbers with Vertex AI's reason for each, and the Ready or Reconciling message "
        "says so too. Recorded once per job, when the count is first seen.",
        "Fix or shorten those examples if they matter, and tune again with a new resource; run the dataset "
        "preflight (spec.preflight) to find such examples before paying for a job.",
    ),
    Reason.WAITING_FOR_DEPENDENCY: ReasonDoc(
        "The TuningJob named by spec.preTunedModel.tuningJobRef is not Ready yet (or does not exist); this "
        "job is created, from that job's tuned model, as soon as it is. Nothing is created on Google before.",
        "Nothing; create the referenced TuningJob if the message says it does not exist.",
    ),
    Reason.DEPENDENCY_CYCLE: ReasonDoc(
        "The chain of spec.preTunedModel.tuningJobRef references loops back to this job (named in the "
        "message), so none of the jobs in it can ever start. The API server cannot see a chain across "
        "objects at apply time; only a reference to the job itself is refused there.",
        "Point one of the jobs in the loop at a base model or another tuned model (a new resource: the "
        "inputs are immutable).",
    ),
    Reason.DEPENDENCY_FAILED: ReasonDoc(
        "The TuningJob named by spec.preTunedModel.tuningJobRef ended without a tuned model (failed, "
        "cancelled or expired), so this job has nothing to start from.",
        "Re-create the referenced TuningJob; this job starts once a job of that name is Ready.",
    ),
    Reason.OUTPUTS_DELETED: ReasonDoc(
        "(Event) deletionPolicy Delete: the endpoints the job created and its tuned model were undeployed "
        "and deleted in Vertex AI; the resource goes away next. A later model version made by continuous "
        "tuning is kept (the message says so): deleting the model would delete the versions before it.",
        "Nothing.",
    ),
}


class Condition(StatusModel):
    """One observation of the resource's state, in the standard `metav1.Condition` shape."""

    type: str = Field(
        description="Type of condition: Ready, Reconciling, Stalled or Synced.",
        max_length=316,
        pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
        r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation of the spec this condition was computed from.",
    )
    last_transition_time: Timestamp = Field(
        description="Last time the condition's status changed (not merely its reason or message).",
    )
    reason: str = Field(
        description="CamelCase word saying why the condition has its status; see the documented list.",
        min_length=1,
        max_length=1024,
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    )
    message: str = Field(
        description="Human-readable detail, written so a user can act on it.",
        max_length=32768,
    )


def find_condition(conditions: Sequence[Condition] | None, type_: str) -> Condition | None:
    """The condition of that type, if present."""
    for condition in conditions or ():
        if condition.type == type_:
            return condition
    return None


def is_condition_true(conditions: Sequence[Condition] | None, type_: str) -> bool:
    condition = find_condition(conditions, type_)
    return condition is not None and condition.status == "True"


def condition_reason(status: Mapping[str, Any], type_: str) -> str | None:
    """The reason of the condition of that type in a status as JSON, when the condition is True."""
    for condition in status.get("conditions") or ():
        if condition.get("type") == type_ and condition.get("status") == "True":
            return str(condition.get("reason"))
    return None


def set_condition(  # noqa: PLR0917 - the positional order the reconciler calls it with
    conditions: Sequence[Condition] | None,
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    observed_generation: int | None,
    now: datetime,
) -> list[Condition]:
    """Return the conditions with `type_` set, leaving the input untouched.

    `lastTransitionTime` moves only when the status changes: a new reason or message on an unchanged
    status is an update, not a transition, and tools that measure how long a resource has been Ready rely
    on that. The position of an existing condition is kept so repeated writes produce no diff.
    """
    existing = find_condition(conditions, type_)
    transition_time = existing.last_transition_time if existing and existing.status == status else now
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message,
        observed_generation=observed_generation,
        last_transition_time=transition_time,
    )
    result = [updated if condition.type == type_ else condition for condition in conditions or ()]
    if existing is None:
        result.append(updated)
    return result
