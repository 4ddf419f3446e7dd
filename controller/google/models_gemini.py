"""Gemini API v1beta `tunedModels` and their long-running operations as pydantic models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from controller.google.models_common import ApiModel, Int64, RpcStatus

STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
STATE_CREATING = "CREATING"
STATE_ACTIVE = "ACTIVE"
STATE_FAILED = "FAILED"

#: Fields `tunedModels.patch` may change (the rest are immutable or output only).
PATCHABLE_FIELDS = frozenset(
    {"displayName", "description", "temperature", "topP", "topK", "readerProjectNumbers"}
)


class TuningSnapshot(ApiModel):
    step: int = 0
    epoch: int = 0
    mean_loss: float | None = None
    compute_time: datetime | None = None


class GeminiHyperparameters(ApiModel):
    learning_rate: float | None = None
    learning_rate_multiplier: float | None = None
    epoch_count: int | None = None
    batch_size: int | None = None


class TuningTask(ApiModel):
    """`trainingData` is input only: it is never in a response, so it is not modelled here."""

    start_time: datetime | None = None
    complete_time: datetime | None = None
    snapshots: list[TuningSnapshot] = []
    hyperparameters: GeminiHyperparameters | None = None


class TunedModelSource(ApiModel):
    tuned_model: str = ""
    base_model: str | None = None


class GeminiTunedModel(ApiModel):
    """A Gemini API tuned model. `name` is required: a model without one is malformed."""

    name: str
    base_model: str | None = None
    tuned_model_source: TunedModelSource | None = None
    display_name: str | None = None
    description: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    state: str = STATE_UNSPECIFIED
    create_time: datetime | None = None
    update_time: datetime | None = None
    tuning_task: TuningTask | None = None
    reader_project_numbers: list[Int64] = []

    @property
    def model_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]


class CreateTunedModelMetadata(ApiModel):
    tuned_model: str = ""
    total_steps: int = 0
    completed_steps: int = 0
    completed_percent: float = 0.0
    snapshots: list[TuningSnapshot] = []


class Operation(ApiModel):
    """The long-running operation of `tunedModels.create`. `done` is absent (False) while it runs."""

    name: str
    metadata: CreateTunedModelMetadata | None = None
    done: bool = False
    error: RpcStatus | None = None
    response: GeminiTunedModel | None = None

    @property
    def tuned_model_name(self) -> str:
        """The tuned model's name: from the metadata, else the operation name before `/operations/`."""
        if self.metadata is not None and self.metadata.tuned_model:
            return self.metadata.tuned_model
        return self.name.split("/operations/", 1)[0]


class GeminiTunedModelPage(ApiModel):
    tuned_models: list[GeminiTunedModel] = []
    next_page_token: str = ""


class TuningExample(ApiModel):
    text_input: str
    output: str


class GeminiTunedModelCreate(ApiModel):
    """The body of `tunedModels.create`."""

    base_model: str | None = None
    tuned_model_source: dict[str, Any] | None = None
    display_name: str | None = None
    description: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    tuning_task: dict[str, Any] = Field(
        description="`{hyperparameters: {...}, trainingData: {examples: {examples: [{textInput, output}]}}}`"
    )
