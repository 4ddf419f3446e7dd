"""`TunedModel`: a Gemini API (generativelanguage v1beta) tuned model, declared in Kubernetes.

The spec mirrors the REST `TunedModel` with one simplification: the training examples are a flat list
(`trainingData.examples[]`) or a ConfigMap holding JSONL, instead of the API's `examples.examples[]` nesting.
The fields the Gemini API can patch (`displayName`, `description`, `temperature`, `topP`, `topK`,
`readerProjectNumbers`) may change at any time; the source model and the tuning task may not.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from controller.api.base import (
    IMMUTABLE,
    NOT_YET_OBSERVED,
    ApiModel,
    OneOf,
    ResourceStatusModel,
    StatusModel,
    Timestamp,
)
from controller.api.common import (
    ConfigMapKeyRef,
    GoogleError,
    SecretKeyRef,
    TestPrompt,
    TestPromptResult,
    test_prompts_field,
)
from controller.api.conditions import Condition
from controller.api.resource import (
    ObjectMeta,
    PrinterColumn,
    ResourceInfo,
    age_column,
    ready_column,
)

TUNED_MODEL_ID_PATTERN = r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
MAX_SNAPSHOTS = 10
MAX_INLINE_EXAMPLES = 2000
INT32_MAX = 2**31 - 1
_ID_FROM_NAME_MESSAGE = (
    "spec.tunedModelId is required when metadata.name is not a valid tuned model ID (a lowercase letter, "
    "then up to 39 lowercase letters, digits or '-', not ending in '-')"
)


class TunedModelState(StrEnum):
    """Gemini API tuned-model states, as written to status.state."""

    UNSPECIFIED = "STATE_UNSPECIFIED"
    CREATING = "CREATING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"


class TunedModelSource(ApiModel):
    """An existing tuned model to start from instead of a base model."""

    tuned_model: str = Field(
        max_length=52,
        pattern=r"^tunedModels/[a-z]([a-z0-9-]{0,38}[a-z0-9])?$",
        description="Name of the tuned model to tune further, tunedModels/ID.",
    )


class Hyperparameters(ApiModel):
    """Tuning hyperparameters; each one left out takes the Gemini API's default."""

    one_of = (OneOf(("learningRate", "learningRateMultiplier")),)

    learning_rate: float | None = Field(
        default=None,
        gt=0,
        description="Learning rate (greater than 0). Exclusive with learningRateMultiplier.",
    )
    learning_rate_multiplier: float | None = Field(
        default=None,
        gt=0,
        description="Multiplier of the default learning rate (greater than 0). Exclusive with learningRate.",
    )
    epoch_count: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Number of passes over the training data (default 5)."
    )
    batch_size: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Examples per training step (default 4 or 16)."
    )


class TuningExample(ApiModel):
    """One input and the output the tuned model should learn to give."""

    text_input: str = Field(min_length=1, max_length=40000, description="The input text.")
    output: str = Field(min_length=1, max_length=5000, description="The expected output text.")


class TrainingData(ApiModel):
    """Training examples, inline or from a ConfigMap (exactly one)."""

    one_of = (OneOf(("examples", "configMapRef"), required=True),)

    examples: list[TuningExample] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_INLINE_EXAMPLES,
        description=(
            f"The examples, inline (at most {MAX_INLINE_EXAMPLES}; larger sets belong in a ConfigMap). "
            "Exclusive with configMapRef."
        ),
    )
    config_map_ref: ConfigMapKeyRef | None = Field(
        default=None,
        description=(
            'A ConfigMap key holding the examples as JSONL, one {"textInput": ..., "output": ...} object per '
            "line. Read once, when the model is created. Exclusive with examples."
        ),
    )


class TuningTask(ApiModel):
    """How to tune: hyperparameters and training data."""

    hyperparameters: Hyperparameters | None = Field(
        default=None, description="Tuning hyperparameters; the Gemini API's defaults for those left out."
    )
    training_data: TrainingData = Field(description="The examples to tune on.")


class TunedModelSpec(ApiModel):
    """The desired tuned model. Source and tuning task are immutable; the sampling defaults may change."""

    one_of = (OneOf(("baseModel", "tunedModelSource"), required=True),)

    tuned_model_id: str | None = Field(
        default=None,
        max_length=40,
        pattern=TUNED_MODEL_ID_PATTERN,
        json_schema_extra=IMMUTABLE,
        description=(
            "ID of the tuned model (tunedModels/ID): a lowercase letter, then up to 39 lowercase letters, "
            "digits or '-', not ending in '-'. Defaults to metadata.name, which must then match the same "
            "rule."
        ),
    )
    display_name: str | None = Field(
        default=None, min_length=1, max_length=40, description="Display name, at most 40 characters."
    )
    description: str | None = Field(default=None, max_length=4096, description="Description of the model.")
    base_model: str | None = Field(
        default=None,
        max_length=256,
        pattern=r"^models/[A-Za-z0-9][A-Za-z0-9._-]*$",
        json_schema_extra=IMMUTABLE,
        description="Base model to tune, models/ID (for example models/gemini-1.5-flash-001-tuning). "
        "Exclusive with tunedModelSource.",
    )
    tuned_model_source: TunedModelSource | None = Field(
        default=None,
        json_schema_extra=IMMUTABLE,
        description="Tune further from an existing tuned model. Exclusive with baseModel.",
    )
    temperature: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Default sampling temperature, 0 to 1; the base model's when absent.",
    )
    top_p: float | None = Field(
        default=None, ge=0, le=1, description="Default nucleus-sampling probability, 0 to 1."
    )
    top_k: int | None = Field(default=None, ge=1, description="Default top-k sampling (at least 1).")
    reader_project_numbers: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        max_length=100,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Numbers of Google Cloud projects allowed to read the tuned model.",
    )
    tuning_task: TuningTask = Field(
        json_schema_extra=IMMUTABLE, description="Hyperparameters and training data."
    )
    api_key_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description=(
            "A Secret key in this namespace holding a Gemini API key to call the API with; without it the "
            "operator's own Google credentials are used."
        ),
    )
    deletion_policy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description=(
            "What deleting this resource does to the tuned model: Delete (default) deletes it from the "
            "Gemini API; Orphan leaves it."
        ),
    )
    test_prompts: list[TestPrompt] | None = test_prompts_field()


class TuningSnapshot(StatusModel):
    """Training progress at one step."""

    step: int | None = Field(default=None, description="Training step.")
    epoch: int | None = Field(default=None, description="Epoch the step belongs to.")
    mean_loss: float | None = Field(
        default=None, description="Mean loss of the training examples at that step."
    )
    compute_time: Timestamp | None = Field(default=None, description="When the values were computed.")


class TunedModelStatus(ResourceStatusModel):
    """What the operator last observed of the tuned model and its creation."""

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
    name: str | None = Field(default=None, description="Resource name of the model, tunedModels/ID.")
    state: str | None = Field(default=None, description="Gemini API model state: CREATING, ACTIVE or FAILED.")
    operation: str | None = Field(
        default=None, description="Name of the long-running create operation, tunedModels/ID/operations/OP."
    )
    create_requested_time: Timestamp | None = Field(
        default=None,
        description=(
            "When the operator decided to create the model, recorded before the create call so that after a "
            "restart it looks for the model instead of creating it again."
        ),
    )
    create_time: Timestamp | None = Field(default=None, description="When the model was created.")
    update_time: Timestamp | None = Field(default=None, description="When the model was last updated.")
    start_time: Timestamp | None = Field(default=None, description="When tuning started.")
    complete_time: Timestamp | None = Field(default=None, description="When tuning completed.")
    completed_steps: int | None = Field(default=None, description="Training steps completed so far.")
    total_steps: int | None = Field(default=None, description="Training steps in total.")
    completed_percent: float | None = Field(default=None, description="Percentage of training completed.")
    snapshots: list[TuningSnapshot] | None = Field(
        default=None,
        max_length=MAX_SNAPSHOTS,
        description=f"The latest training snapshots (at most {MAX_SNAPSHOTS}, oldest first).",
    )
    error: GoogleError | None = Field(default=None, description="Why creating or tuning the model failed.")
    test_prompt_results: list[TestPromptResult] | None = Field(
        default=None, description="Answers of the tuned model to spec.testPrompts."
    )


class TunedModel(ApiModel):
    """A tuned Gemini model in the Gemini API."""

    api_version: Literal["tuning.vertexops.dev/v1alpha1"] = Field(
        default="tuning.vertexops.dev/v1alpha1", alias="apiVersion"
    )
    kind: Literal["TunedModel"] = "TunedModel"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TunedModelSpec
    status: TunedModelStatus | None = None

    @model_validator(mode="after")
    def _name_usable_as_id(self) -> Self:
        name = self.metadata.name
        if self.spec.tuned_model_id is None and name and not re.fullmatch(TUNED_MODEL_ID_PATTERN, name):
            raise ValueError(_ID_FROM_NAME_MESSAGE)
        return self

    def remote_id(self) -> str | None:
        """The tunedModelId to create the model with: spec.tunedModelId, else metadata.name."""
        return self.spec.tuned_model_id or self.metadata.name


TUNED_MODEL = ResourceInfo(
    kind="TunedModel",
    plural="tunedmodels",
    singular="tunedmodel",
    short_names=("tm",),
    description=(
        "TunedModel tunes a Gemini model through the Gemini API (generativelanguage v1beta) and reports its "
        "state and training progress in status."
    ),
    printer_columns=(
        PrinterColumn("State", ".status.state", description="Gemini API model state."),
        ready_column(),
        PrinterColumn(
            "Progress",
            ".status.completedPercent",
            type="number",
            description="Percentage of tuning completed.",
        ),
        PrinterColumn("Model", ".status.name", description="Name of the tuned model.", priority=1),
        age_column(),
    ),
    root_validations=(
        {
            "rule": f"has(self.spec.tunedModelId) || self.metadata.name.matches('{TUNED_MODEL_ID_PATTERN}')",
            "message": _ID_FROM_NAME_MESSAGE,
            "fieldPath": ".spec.tunedModelId",
        },
    ),
)
