"""`TuningJob`: a Vertex AI tuning job (supervised or preference tuning), declared in Kubernetes.

The spec uses the names of the Vertex REST `TuningJob` so a user can move between the two without a
dictionary; the fields the operator adds (`projectID`, `location`, `deletionPolicy`, `testPrompts`,
`publish`) sit beside them. Vertex cannot change a job after creation, so every input to the job is immutable
and changing one is rejected by `kubectl apply`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from controller.api.base import (
    IMMUTABLE,
    NOT_YET_OBSERVED,
    ApiModel,
    OneOf,
    ResourceStatusModel,
    StatusModel,
    Timestamp,
)
from controller.api.common import GoogleError, ObjectName, TestPrompt, TestPromptResult, test_prompts_field
from controller.api.conditions import Condition
from controller.api.evaluation import EvaluationConfig, EvaluationRun
from controller.api.resource import (
    ObjectMeta,
    PrinterColumn,
    ResourceInfo,
    age_column,
    ready_column,
)

# Labels starting with this prefix are set by the operator on every job it creates (for example the
# resource's UID, so a job can be found again after a crash); users may not set them.
OPERATOR_LABEL_PREFIX = "vertexops"
# Vertex allows 64 labels on a job; the operator keeps 4 for its own.
MAX_USER_LABELS = 60
# Status shows at most this many of the examples Vertex AI left out (it reports a sample itself).
MAX_DROPPED_EXAMPLES_SHOWN = 10

GCS_URI_PATTERN = r"^gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]/.+$"
# A Vertex AI multimodal dataset, projects/P/locations/L/datasets/ID (Vertex generates numeric IDs).
DATASET_NAME_PATTERN = (
    r"projects/[a-z0-9]([-a-z0-9.:]{0,98}[a-z0-9])?"
    r"/locations/[a-z][a-z0-9-]{0,61}[a-z0-9]/datasets/[0-9]{1,20}"
)
# SupervisedTuningSpec.trainingDatasetUri / validationDatasetUri (REST discovery aiplatform.v1.json, revision
# 20261106): "either a Cloud Storage path to a JSONL file or ... the resource name of a Vertex Multimodal
# Dataset", in the same field (there is no separate dataset field).
SUPERVISED_DATASET_PATTERN = rf"^(gs://[a-z0-9][a-z0-9._-]{{1,221}}[a-z0-9]/.+|{DATASET_NAME_PATTERN})$"
TUNING_JOB_NAME_PATTERN = (
    r"^projects/[a-z0-9]([-a-z0-9.:]{0,98}[a-z0-9])?"
    r"/locations/[a-z][a-z0-9-]{0,61}[a-z0-9]/tuningJobs/[0-9]{1,20}$"
)
_INPUTS_OR_IMPORT_MESSAGE = (
    "spec.baseModel (or spec.preTunedModel) and one tuning spec (spec.supervisedTuningSpec or "
    "spec.preferenceOptimizationSpec) are required, unless spec.jobName names an existing Vertex AI "
    "tuning job to import"
)
# PreTunedModel.tunedModelName: a Model, optionally with a version id or alias (discovery document).
TUNED_MODEL_NAME_PATTERN = r"^projects/[^/]+/locations/[^/]+/models/[^/@]+(@[A-Za-z0-9_-]+)?$"
_SELF_REFERENCE_MESSAGE = (
    "spec.preTunedModel.tuningJobRef.name: a TuningJob cannot tune on from its own model"
)

LabelKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]*$"),
]
LabelValue = Annotated[str, StringConstraints(max_length=63, pattern=r"^[\p{Ll}\p{Lo}\p{N}_-]*$")]


class AdapterSize(StrEnum):
    """LoRA adapter sizes Vertex accepts; which ones a base model supports depends on the model."""

    ONE = "ADAPTER_SIZE_ONE"
    TWO = "ADAPTER_SIZE_TWO"
    FOUR = "ADAPTER_SIZE_FOUR"
    EIGHT = "ADAPTER_SIZE_EIGHT"
    SIXTEEN = "ADAPTER_SIZE_SIXTEEN"
    THIRTY_TWO = "ADAPTER_SIZE_THIRTY_TWO"


class JobState(StrEnum):
    """Vertex AI job states (`JobState`), as written to status.state."""

    UNSPECIFIED = "JOB_STATE_UNSPECIFIED"
    QUEUED = "JOB_STATE_QUEUED"
    PENDING = "JOB_STATE_PENDING"
    RUNNING = "JOB_STATE_RUNNING"
    SUCCEEDED = "JOB_STATE_SUCCEEDED"
    FAILED = "JOB_STATE_FAILED"
    CANCELLING = "JOB_STATE_CANCELLING"
    CANCELLED = "JOB_STATE_CANCELLED"
    PAUSED = "JOB_STATE_PAUSED"
    EXPIRED = "JOB_STATE_EXPIRED"
    UPDATING = "JOB_STATE_UPDATING"
    PARTIALLY_SUCCEEDED = "JOB_STATE_PARTIALLY_SUCCEEDED"


TERMINAL_JOB_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED, JobState.PARTIALLY_SUCCEEDED}
)


class HyperParameters(ApiModel):
    """Tuning hyperparameters; each one left out is chosen by Vertex AI for the base model and data size."""

    epoch_count: int | None = Field(
        default=None, ge=1, description="Number of passes over the training data (at least 1)."
    )
    learning_rate_multiplier: float | None = Field(
        default=None,
        gt=0,
        description="Multiplier applied to the recommended learning rate; must be greater than 0.",
    )
    adapter_size: AdapterSize | None = Field(
        default=None,
        description=(
            "Size of the LoRA adapter. Which sizes a base model supports varies (for example "
            "gemini-2.5-flash: ONE, TWO, FOUR, EIGHT, SIXTEEN); Vertex rejects an unsupported one when the "
            "job is created."
        ),
    )


class SupervisedTuningSpec(ApiModel):
    """The data and settings of a supervised fine-tuning run."""

    training_dataset_uri: str = Field(
        max_length=2048,
        pattern=SUPERVISED_DATASET_PATTERN,
        description=(
            "The training data: a Cloud Storage URI of a JSONL file (gs://bucket/path.jsonl), or a Vertex AI "
            "multimodal dataset (projects/P/locations/L/datasets/ID)."
        ),
    )
    validation_dataset_uri: str | None = Field(
        default=None,
        max_length=2048,
        pattern=SUPERVISED_DATASET_PATTERN,
        description=(
            "The validation data, as a gs:// JSONL file or a Vertex AI multimodal dataset like "
            "trainingDatasetUri; with it, status also shows evaluation loss and accuracy."
        ),
    )
    hyper_parameters: HyperParameters | None = Field(
        default=None,
        description="Tuning hyperparameters; Vertex AI picks recommended values for those left out.",
    )
    export_last_checkpoint_only: bool | None = Field(
        default=None,
        description=(
            "Keep only the final checkpoint. When false or absent, intermediate checkpoints are kept and "
            "listed in status.tunedModel.checkpoints."
        ),
    )
    evaluation_config: EvaluationConfig | None = Field(
        default=None,
        description=(
            "Have Vertex AI evaluate the checkpoints with these metrics (Vertex AI Preview); the "
            "results are written to Cloud Storage and summarised in status.evaluateDatasetRuns."
        ),
    )


class PreferenceHyperParameters(ApiModel):
    """Preference-tuning hyperparameters; each one left out is chosen by Vertex AI.

    Vertex REST discovery aiplatform.v1.json (revision 20261106), PreferenceOptimizationHyperParameters:
    epochCount int64, learningRateMultiplier double, adapterSize (the AdapterSize enum), beta double.
    """

    epoch_count: int | None = Field(
        default=None, ge=1, description="Number of passes over the training data (at least 1)."
    )
    learning_rate_multiplier: float | None = Field(
        default=None,
        gt=0,
        description="Multiplier applied to the recommended learning rate; must be greater than 0.",
    )
    adapter_size: AdapterSize | None = Field(
        default=None,
        description="Size of the LoRA adapter; which sizes a base model supports varies.",
    )
    beta: float | None = Field(
        default=None,
        ge=0,
        description=(
            "Weight of the KL-divergence regularization that keeps the tuned model close to the base model "
            "(0 or more); Vertex AI picks a value when absent."
        ),
    )


class PreferenceOptimizationSpec(ApiModel):
    """The data and settings of a preference-tuning run (pairs of preferred and rejected answers).

    Vertex REST discovery aiplatform.v1.json (revision 20261106), PreferenceOptimizationSpec: the datasets are
    "Cloud Storage path[s] ... formatted as a JSONL file" (unlike supervised tuning, no multimodal dataset).
    """

    training_dataset_uri: str = Field(
        max_length=2048,
        pattern=GCS_URI_PATTERN,
        description="Cloud Storage URI (gs://bucket/path.jsonl) of the JSONL preference training data.",
    )
    validation_dataset_uri: str | None = Field(
        default=None,
        max_length=2048,
        pattern=GCS_URI_PATTERN,
        description="Cloud Storage URI (gs://bucket/path.jsonl) of JSONL preference validation data.",
    )
    hyper_parameters: PreferenceHyperParameters | None = Field(
        default=None,
        description="Preference-tuning hyperparameters; Vertex AI picks values for those left out.",
    )
    export_last_checkpoint_only: bool | None = Field(
        default=None,
        description=(
            "Keep only the final checkpoint. When false or absent, intermediate checkpoints are kept and "
            "listed in status.tunedModel.checkpoints."
        ),
    )


class EncryptionSpec(ApiModel):
    """Customer-managed encryption (CMEK) for the job and its outputs."""

    kms_key_name: str = Field(
        max_length=512,
        pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$",
        description=(
            "Cloud KMS key, projects/P/locations/L/keyRings/R/cryptoKeys/K, in the same region as the job."
        ),
    )


class PublishSpec(ApiModel):
    """Where the operator publishes the tuned model for other workloads in the namespace."""

    config_map_name: ObjectName = Field(
        description=(
            "Name of a ConfigMap in this namespace that the operator creates once the job succeeds, for "
            "workloads to mount or read. Its keys: `tuningJob` (the job's resource name), `model` (the tuned "
            "model's resource name) and `endpoint` (the endpoint's resource name, for generateContent). The "
            "ConfigMap is owned by the TuningJob and deleted with it; an existing ConfigMap of that name "
            "that the operator did not create is left untouched."
        ),
    )


class TuningJobRef(ApiModel):
    """Another TuningJob of the same namespace. There is deliberately no namespace field: a job can only
    build on a job its own namespace (and so its own team and Google identity) owns."""

    name: ObjectName = Field(description="Name of the TuningJob, in the same namespace as this one.")


class PreTunedModel(ApiModel):
    """The tuned model a continuous-tuning job starts from, instead of a base model."""

    one_of = (OneOf(("tunedModelName", "tuningJobRef"), required=True),)

    tuned_model_name: str | None = Field(
        default=None,
        max_length=512,
        pattern=TUNED_MODEL_NAME_PATTERN,
        description=(
            "The Model to tune on from: projects/P/locations/L/models/M, optionally with @VERSION or @ALIAS "
            "(the default version when absent). It must be in the job's project and region."
        ),
    )
    tuning_job_ref: TuningJobRef | None = Field(
        default=None,
        description=(
            "Another TuningJob in this namespace whose tuned model to tune on from, the GitOps way: this job "
            "waits (Reconciling, reason WaitingForDependency) until that one is Ready, then starts from its "
            "status.tunedModel.model. A chain of references that loops back is refused (Stalled, reason "
            "DependencyCycle)."
        ),
    )
    checkpoint_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description=(
            "The checkpoint of that model to start from (see status.tunedModel.checkpoints of the job that "
            "made it); the model's default checkpoint when absent."
        ),
    )


class PreflightMode(StrEnum):
    REQUIRED = "Required"
    WARN_ONLY = "WarnOnly"
    SKIP = "Skip"


class PreflightSpec(ApiModel):
    """How the training and validation files are checked before the job is created (docs/preflight.md)."""

    mode: PreflightMode | None = Field(
        default=None,
        description=(
            "Required: read the gs:// JSONL files as the job's Google identity and check every line against "
            "Vertex AI's documented format and limits; a dataset with errors is not sent to Vertex AI (the "
            "resource is Stalled with reason InvalidDataset and checked again when a file is replaced). "
            "WarnOnly: check and report in status.preflight, but create the job whatever the result. "
            "Skip: do not read the files. When absent: the operator's --preflight-default (Required unless "
            "changed); a TuningTenant with requireDatasetPreflight makes it Required."
        ),
    )
    strict: bool | None = Field(
        default=None,
        description=(
            "With mode Required, warnings block the job too (examples Vertex AI would truncate or drop, "
            "fields it ignores)."
        ),
    )


class TuningJobSpec(ApiModel):
    """The desired tuning job. The job's inputs are immutable: change one by creating a new TuningJob."""

    project_id: str | None = Field(
        default=None,
        alias="projectID",
        max_length=100,
        pattern=r"^([a-z][-a-z0-9.:]{4,98}[a-z0-9]|[0-9]{1,20})$",
        json_schema_extra=IMMUTABLE,
        description=(
            "Google Cloud project (ID or number) that runs the job; the operator's default when absent."
        ),
    )
    location: str | None = Field(
        default=None,
        max_length=63,
        pattern=r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$",
        json_schema_extra=IMMUTABLE,
        description="Vertex AI region of the job, such as us-central1; the operator's default when absent.",
    )
    job_name: str | None = Field(
        default=None,
        max_length=256,
        pattern=TUNING_JOB_NAME_PATTERN,
        json_schema_extra=IMMUTABLE,
        description=(
            "Import an existing Vertex AI tuning job, projects/P/locations/L/tuningJobs/ID, created outside "
            "Kubernetes: the operator follows and reports it, publishes its outputs and answers the test "
            "prompts, and never creates a job. The other inputs are then optional; those given are compared "
            "with the job and a difference is reported in the SpecMatched condition. Deleting an imported "
            "job's resource leaves the job alone unless deletionPolicy says Cancel."
        ),
    )
    base_model: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@/-]*$",
        json_schema_extra=IMMUTABLE,
        description=(
            "Gemini model to tune, as Vertex AI names it, such as gemini-2.5-flash. Required unless "
            "spec.preTunedModel is given or spec.jobName imports a job."
        ),
    )
    pre_tuned_model: PreTunedModel | None = Field(
        default=None,
        json_schema_extra=IMMUTABLE,
        description=(
            "Continuous tuning: tune on from an already tuned model instead of spec.baseModel (not both). "
            "Vertex AI makes the result a new version of that model, or a new model when "
            "tunedModelDisplayName differs."
        ),
    )
    supervised_tuning_spec: SupervisedTuningSpec | None = Field(
        default=None,
        json_schema_extra=IMMUTABLE,
        description=(
            "Training data and settings for supervised fine-tuning. Exactly one of supervisedTuningSpec "
            "and preferenceOptimizationSpec is required, unless spec.jobName imports a job."
        ),
    )
    preference_optimization_spec: PreferenceOptimizationSpec | None = Field(
        default=None,
        json_schema_extra=IMMUTABLE,
        description=(
            "Training data and settings for preference tuning, instead of supervisedTuningSpec: the model "
            "learns from pairs of a preferred and a rejected answer to each prompt."
        ),
    )
    tuned_model_display_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        json_schema_extra=IMMUTABLE,
        description="Display name of the tuned model (at most 128 characters); Vertex picks one when absent.",
    )
    description: str | None = Field(
        default=None,
        max_length=4096,
        json_schema_extra=IMMUTABLE,
        description="Description of the tuning job.",
    )
    labels: dict[LabelKey, LabelValue] | None = Field(
        default=None,
        max_length=MAX_USER_LABELS,
        json_schema_extra={
            **IMMUTABLE,
            "x-kubernetes-validations": [
                {
                    "rule": f"self.all(k, !k.startsWith('{OPERATOR_LABEL_PREFIX}'))",
                    "message": (
                        f"label keys starting with '{OPERATOR_LABEL_PREFIX}' are reserved for the operator"
                    ),
                }
            ],
        },
        description=(
            "Labels for the job, also applied to the tuned model and endpoint. At most "
            f"{MAX_USER_LABELS}; keys and values at most 63 characters of lowercase letters, digits, '_' "
            f"and '-'; keys start with a letter and may not start with '{OPERATOR_LABEL_PREFIX}'."
        ),
    )
    encryption_spec: EncryptionSpec | None = Field(
        default=None,
        json_schema_extra=IMMUTABLE,
        description="Customer-managed encryption key for the job and its outputs.",
    )
    service_account: str | None = Field(
        default=None,
        max_length=254,
        pattern=r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.:-]+\.[a-zA-Z]{2,}$",
        json_schema_extra=IMMUTABLE,
        description=(
            "Email of the service account the job runs as; the Vertex AI tuning service agent when absent. "
            "The operator's identity needs iam.serviceAccounts.actAs on it."
        ),
    )
    deletion_policy: Literal["Cancel", "Orphan", "Delete"] | None = Field(
        default=None,
        description=(
            "What deleting this resource does to the remote job: Cancel cancels a running job and waits for "
            "it to stop, and leaves a finished job's tuned model and endpoints in place; Orphan leaves the "
            "job and its outputs alone; Delete cancels a running job, then undeploys and deletes every "
            "endpoint the job created and deletes its tuned model, keeping the finalizer until they are "
            "gone. When absent: Cancel, except for a job imported with spec.jobName, which is left alone "
            "(it was created outside Kubernetes)."
        ),
    )
    adoption_policy: Literal["IfExists", "Never"] | None = Field(
        default=None,
        description=(
            "Whether an existing job with this resource's identity (the same namespace, name and inputs, "
            "created by an earlier cluster or before the resource was re-created) is adopted instead of "
            "creating a new one: IfExists (default) adopts a pending, running, succeeded or failed job and "
            "creates one only if none exists or the last was cancelled; Never always creates a new job."
        ),
    )
    test_prompts: list[TestPrompt] | None = test_prompts_field()
    publish: PublishSpec | None = Field(
        default=None, description="Publish the tuned model's names to a ConfigMap once the job succeeds."
    )
    preflight: PreflightSpec | None = Field(
        default=None,
        description=(
            "The dataset check made before the job is created. It matters only until then, so it may be "
            "changed (for example to Skip) on a resource that is waiting for a fixed dataset."
        ),
    )

    # The Vertex TuningJob's one-ofs `source_model` (a base model or a tuned one to tune on from) and
    # `tuning_spec` (supervised or preference): at most one of each, and (below) one of each is required
    # unless the job is imported.
    one_of = (
        OneOf(("baseModel", "preTunedModel")),
        OneOf(("supervisedTuningSpec", "preferenceOptimizationSpec")),
    )
    cel_rules = (
        {
            "rule": (
                "has(self.jobName) || ((has(self.baseModel) || has(self.preTunedModel)) && "
                "(has(self.supervisedTuningSpec) || has(self.preferenceOptimizationSpec)))"
            ),
            "message": _INPUTS_OR_IMPORT_MESSAGE,
        },
    )

    @model_validator(mode="after")
    def _inputs_or_import(self) -> Self:
        source = self.base_model or self.pre_tuned_model
        if self.job_name is None and (source is None or self.tuning_spec is None):
            raise ValueError(_INPUTS_OR_IMPORT_MESSAGE)
        return self

    @property
    def tuning_spec(self) -> SupervisedTuningSpec | PreferenceOptimizationSpec | None:
        """The one tuning spec set (supervised or preference), or None for an import that states none."""
        return self.supervised_tuning_spec or self.preference_optimization_spec

    @property
    def imported(self) -> bool:
        """Whether the resource follows a job created outside Kubernetes rather than declaring one."""
        return self.job_name is not None

    def effective_deletion_policy(self) -> Literal["Cancel", "Orphan", "Delete"]:
        if self.deletion_policy is not None:
            return self.deletion_policy
        return "Orphan" if self.imported else "Cancel"

    @field_validator("labels")
    @classmethod
    def _no_operator_labels(cls, labels: dict[str, str] | None) -> dict[str, str] | None:
        reserved = sorted(key for key in labels or {} if key.startswith(OPERATOR_LABEL_PREFIX))
        if reserved:
            raise ValueError(
                f"label keys starting with '{OPERATOR_LABEL_PREFIX}' are reserved for the operator: "
                + ", ".join(reserved)
            )
        return labels


class Checkpoint(StatusModel):
    """An intermediate or final checkpoint of the tuned model."""

    checkpoint_id: str | None = Field(
        default=None, description="Checkpoint ID, unique within the tuned model."
    )
    epoch: int | None = Field(default=None, description="Epoch at which the checkpoint was taken.")
    step: int | None = Field(default=None, description="Training step at which the checkpoint was taken.")
    endpoint: str | None = Field(default=None, description="Endpoint resource name serving this checkpoint.")


class PreTunedModelStatus(StatusModel):
    """The tuned model a continuous-tuning job started from."""

    tuned_model_name: str | None = Field(default=None, description="The Model the job tuned on from.")
    checkpoint_id: str | None = Field(default=None, description="Its checkpoint, when one was chosen.")
    base_model: str | None = Field(default=None, description="The base model that Model was tuned from.")
    tuning_job: str | None = Field(
        default=None, description="The TuningJob (spec.preTunedModel.tuningJobRef) that made the Model."
    )


class TuningOutput(StatusModel):
    """The model and endpoint the job produced."""

    model: str | None = Field(
        default=None, description="Tuned model resource name, projects/P/locations/L/models/M@VERSION."
    )
    endpoint: str | None = Field(
        default=None, description="Endpoint resource name serving the tuned model, for generateContent."
    )
    checkpoints: list[Checkpoint] | None = Field(default=None, description="Checkpoints kept by the job.")


class TuningDataStats(StatusModel):
    """Summary of the training data as Vertex AI counted it."""

    tuning_dataset_example_count: int | None = Field(
        default=None, description="Examples in the training data."
    )
    total_tuning_character_count: int | None = Field(
        default=None, description="Characters in the training data."
    )
    total_billable_token_count: int | None = Field(default=None, description="Tokens billed for tuning.")
    tuning_step_count: int | None = Field(default=None, description="Training steps the job will run.")
    total_truncated_example_count: int | None = Field(
        default=None,
        description=(
            "Examples Vertex AI left out of the training (too many tokens, an invalid image, too many "
            "images, ...); the job runs without them."
        ),
    )
    truncated_example_indices: list[int] | None = Field(
        default=None,
        description=(
            f"A sample of the left-out examples' line numbers in the training file (from 1; at most "
            f"{MAX_DROPPED_EXAMPLES_SHOWN})."
        ),
    )
    dropped_example_reasons: list[str] | None = Field(
        default=None,
        description="Vertex AI's reason for each example in truncatedExampleIndices, in the same order.",
    )


class TuningJobSubState(StrEnum):
    """Vertex AI's detail state of a pending or running job (v1beta1 `tuningJobState`)."""

    WAITING_FOR_QUOTA = "TUNING_JOB_STATE_WAITING_FOR_QUOTA"
    PROCESSING_DATASET = "TUNING_JOB_STATE_PROCESSING_DATASET"
    WAITING_FOR_CAPACITY = "TUNING_JOB_STATE_WAITING_FOR_CAPACITY"
    TUNING = "TUNING_JOB_STATE_TUNING"
    POST_PROCESSING = "TUNING_JOB_STATE_POST_PROCESSING"


class TuningJobMetadata(StatusModel):
    """Vertex AI's progress counters of the job (v1beta1 `tuningJobMetadata`)."""

    completed_epoch_count: int | None = Field(default=None, description="Epochs completed so far.")
    completed_step_count: int | None = Field(
        default=None, description="Steps completed so far (Vertex AI reports it for some methods only)."
    )


class PreferenceDataStats(StatusModel):
    """Summary of preference-tuning data as Vertex AI counted it (its PreferenceOptimizationDataStats)."""

    tuning_dataset_example_count: int | None = Field(
        default=None, description="Examples in the training data."
    )
    total_billable_token_count: int | None = Field(default=None, description="Tokens billed for tuning.")
    tuning_step_count: int | None = Field(default=None, description="Training steps the job will run.")
    dropped_example_indices: list[int] | None = Field(
        default=None,
        description="A sample of the examples Vertex AI left out, by line number in the training data.",
    )
    dropped_example_reasons: list[str] | None = Field(
        default=None, description="For each of droppedExampleIndices, why Vertex AI left the example out."
    )


class TrainingMetrics(StatusModel):
    """The latest values of the job's training (and, with a validation set, evaluation) metrics."""

    step: int | None = Field(default=None, description="Training step the values belong to.")
    train_total_loss: float | None = Field(default=None, description="Total loss on the training data.")
    eval_total_loss: float | None = Field(default=None, description="Total loss on the validation data.")
    train_token_accuracy: float | None = Field(
        default=None, description="Fraction of correct next-token predictions on the training data, 0 to 1."
    )
    eval_token_accuracy: float | None = Field(
        default=None, description="Fraction of correct next-token predictions on the validation data, 0 to 1."
    )
    train_num_predictions: float | None = Field(
        default=None, description="Number of token predictions the training metrics are based on."
    )
    eval_num_predictions: float | None = Field(
        default=None, description="Number of token predictions the evaluation metrics are based on."
    )
    read_time: Timestamp | None = Field(default=None, description="When the operator read these values.")


class PreflightFile(StatusModel):
    """One dataset file as the preflight read it."""

    uri: str | None = Field(default=None, description="The gs:// URI of the file.")
    role: Literal["training", "validation"] | None = Field(default=None, description="What the file is.")
    generation: str | None = Field(
        default=None,
        description="The Cloud Storage generation checked; a new upload has a new one and is checked again.",
    )
    size: int | None = Field(default=None, description="Size of the file in bytes.")
    example_count: int | None = Field(default=None, description="Lines that are valid examples.")
    estimated_tokens: int | None = Field(
        default=None, description="Estimated tokens of those examples (about four characters a token)."
    )
    error_count: int | None = Field(default=None, description="Errors found in the file.")
    warning_count: int | None = Field(default=None, description="Warnings found in the file.")


class LargestExample(StatusModel):
    """The example with the most estimated tokens."""

    uri: str | None = Field(default=None, description="File holding it.")
    line: int | None = Field(default=None, description="Its line number (from 1).")
    estimated_tokens: int | None = Field(default=None, description="Its estimated tokens.")


class PreflightStatus(StatusModel):
    """What the dataset preflight found, written before the job is created."""

    mode: PreflightMode | None = Field(default=None, description="The mode the check ran in.")
    strict: bool | None = Field(default=None, description="Whether warnings blocked the job.")
    result: Literal["Passed", "PassedWithWarnings", "Failed", "Skipped"] | None = Field(
        default=None, description="Passed, PassedWithWarnings, Failed or Skipped."
    )
    reason: str | None = Field(
        default=None, description="Why a failed check failed: InvalidDataset, NotFound or PermissionDenied."
    )
    message: str | None = Field(default=None, description="The result in one sentence.")
    checked_time: Timestamp | None = Field(default=None, description="When the files were read.")
    inputs_digest: str | None = Field(
        default=None,
        description=(
            "Digest of the inputs the result depends on (mode, URIs, the base model's limits, epochs); "
            "with the files' generations it tells the operator, also after a restart, that nothing needs "
            "reading again."
        ),
    )
    files: list[PreflightFile] | None = Field(default=None, description="The files read.")
    training_example_count: int | None = Field(default=None, description="Valid training examples.")
    validation_example_count: int | None = Field(default=None, description="Valid validation examples.")
    estimated_training_tokens: int | None = Field(
        default=None, description="Estimated tokens of the training examples, one epoch."
    )
    epoch_count: int | None = Field(default=None, description="Epochs the estimate is multiplied by.")
    estimated_billable_tokens: int | None = Field(
        default=None,
        description="Estimated training tokens times epochs (absent when Vertex AI picks the epochs).",
    )
    largest_example: LargestExample | None = Field(default=None, description="The largest example.")
    error_count: int | None = Field(default=None, description="Errors found (they block a Required check).")
    warning_count: int | None = Field(default=None, description="Warnings found.")
    problems: list[str] | None = Field(
        default=None,
        description="The first problems, each naming file, line and field, prefixed by error: or warning:.",
    )


class TuningJobStatus(ResourceStatusModel):
    """What the operator last observed of the job."""

    observed_generation: int | None = Field(
        default=None,
        json_schema_extra=NOT_YET_OBSERVED,
        description=(
            "metadata.generation of the spec the status was computed from; 0 until the operator has "
            "observed the resource."
        ),
    )
    conditions: list[Condition] | None = Field(
        default=None,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        description="Ready, Reconciling, Stalled and Synced, in the standard Kubernetes condition shape.",
    )
    state: str | None = Field(
        default=None,
        description=(
            "Vertex AI job state: JOB_STATE_PENDING, JOB_STATE_RUNNING, JOB_STATE_SUCCEEDED, "
            "JOB_STATE_FAILED, JOB_STATE_CANCELLED, ..."
        ),
    )
    tuning_job_state: str | None = Field(
        default=None,
        description=(
            "Where a pending or running job really is, as Vertex AI reports it (v1beta1 tuningJobState): "
            "TUNING_JOB_STATE_WAITING_FOR_QUOTA, TUNING_JOB_STATE_PROCESSING_DATASET, "
            "TUNING_JOB_STATE_WAITING_FOR_CAPACITY, TUNING_JOB_STATE_TUNING or "
            "TUNING_JOB_STATE_POST_PROCESSING. Removed once the job has ended."
        ),
    )
    tuning_job_metadata: TuningJobMetadata | None = Field(
        default=None, description="Vertex AI's progress counters of the job (v1beta1 tuningJobMetadata)."
    )
    name: str | None = Field(
        default=None, description="Resource name of the job, projects/P/locations/L/tuningJobs/ID."
    )
    console_url: str | None = Field(
        default=None, alias="consoleURL", description="Link to the job in the Google Cloud console."
    )
    create_requested_time: Timestamp | None = Field(
        default=None,
        description=(
            "When the operator asked Vertex AI to create the job. The intent itself is recorded before the "
            "create call, with the finalizer, in the annotation tuning.vertexops.dev/create-requested-at, so "
            "that after a restart the operator looks for the job instead of creating a second one."
        ),
    )
    identity: str | None = Field(
        default=None,
        description=(
            "The job's identity, derived from the namespace, name and inputs (and the operator's fleet "
            "name): the value of the vertexops-identity label on the Vertex job, which lets a cluster "
            "rebuilt from the same manifests find and adopt it."
        ),
    )
    impersonated_service_account: str | None = Field(
        default=None,
        description=(
            "The Google service account the operator impersonates for this job's calls to Google: the "
            "spec.googleServiceAccount of the TuningTenant covering the namespace, as of the last reconcile "
            "(a tenant edit shows here). Absent: the calls are made with the operator's own identity."
        ),
    )
    create_time: Timestamp | None = Field(default=None, description="When Vertex AI created the job.")
    start_time: Timestamp | None = Field(default=None, description="When the job first started running.")
    end_time: Timestamp | None = Field(default=None, description="When the job reached a final state.")
    update_time: Timestamp | None = Field(default=None, description="When Vertex AI last updated the job.")
    error: GoogleError | None = Field(default=None, description="Why the job failed or was cancelled.")
    tuned_model: TuningOutput | None = Field(
        default=None, description="The tuned model and endpoint, once the job succeeded."
    )
    pre_tuned_model: PreTunedModelStatus | None = Field(
        default=None, description="With spec.preTunedModel: the tuned model the job started from."
    )
    experiment: str | None = Field(
        default=None, description="Vertex AI Experiment (metadata context) holding the job's metrics."
    )
    preflight: PreflightStatus | None = Field(
        default=None, description="The dataset check made before the job was created."
    )
    tuning_data_stats: TuningDataStats | None = Field(
        default=None, description="Summary of the training data of a supervised tuning job."
    )
    preference_optimization_data_stats: PreferenceDataStats | None = Field(
        default=None, description="Summary of the training data of a preference tuning job."
    )
    latest_metrics: TrainingMetrics | None = Field(
        default=None, description="The most recent training and evaluation metrics."
    )
    evaluate_dataset_runs: list[EvaluationRun] | None = Field(
        default=None,
        description=(
            "The evaluations Vertex AI ran for spec.supervisedTuningSpec.evaluationConfig, one per "
            "checkpoint evaluated: where the results are, the aggregated scores, or the error."
        ),
    )
    progress: str | None = Field(
        default=None, description="Progress where known, as a percentage or completed/total steps."
    )
    test_prompt_results: list[TestPromptResult] | None = Field(
        default=None, description="Answers of the tuned endpoint to spec.testPrompts."
    )


class TuningJob(ApiModel):
    """A Vertex AI tuning job (supervised or preference tuning) of a Gemini model."""

    api_version: Literal["tuning.vertexops.dev/v1alpha1"] = Field(
        default="tuning.vertexops.dev/v1alpha1", alias="apiVersion"
    )
    kind: Literal["TuningJob"] = "TuningJob"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TuningJobSpec
    status: TuningJobStatus | None = None

    @model_validator(mode="after")
    def _not_its_own_dependency(self) -> Self:
        """The model side of the CRD's root rule (TUNING_JOB.root_validations)."""
        ref = self.spec.pre_tuned_model.tuning_job_ref if self.spec.pre_tuned_model else None
        if ref is not None and self.metadata.name is not None and ref.name == self.metadata.name:
            raise ValueError(_SELF_REFERENCE_MESSAGE)
        return self


TUNING_JOB = ResourceInfo(
    kind="TuningJob",
    plural="tuningjobs",
    singular="tuningjob",
    short_names=("tj",),
    description=(
        "TuningJob runs a Vertex AI tuning job (supervised or preference) for a Gemini model and reports "
        "its progress, metrics and the tuned model's endpoint in status."
    ),
    printer_columns=(
        PrinterColumn("State", ".status.state", description="Vertex AI job state."),
        PrinterColumn(
            "Sub-State",
            ".status.tuningJobState",
            description="Where a pending or running job is: waiting for quota, processing the dataset, ...",
        ),
        ready_column(),
        PrinterColumn("Progress", ".status.progress", description="Progress of the job where known."),
        PrinterColumn(
            "Loss", ".status.latestMetrics.trainTotalLoss", type="number", description="Latest training loss."
        ),
        PrinterColumn(
            "Endpoint", ".status.tunedModel.endpoint", description="Endpoint of the tuned model.", priority=1
        ),
        age_column(),
    ),
    root_validations=(
        {
            "rule": (
                "!has(self.spec.preTunedModel) || !has(self.spec.preTunedModel.tuningJobRef) || "
                "self.spec.preTunedModel.tuningJobRef.name != self.metadata.name"
            ),
            "message": _SELF_REFERENCE_MESSAGE,
        },
    ),
)
