"""Vertex AI v1 tuning resources (`projects.locations.tuningJobs`) as pydantic models.

`state` is kept as a plain string rather than an enum: Vertex adds states over time and a job in a state
this version does not know must still be readable (the caller treats it as "not terminal yet").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from controller.google.models_common import ApiModel, Int64, RpcStatus

JOB_STATE_UNSPECIFIED = "JOB_STATE_UNSPECIFIED"
JOB_STATE_QUEUED = "JOB_STATE_QUEUED"
JOB_STATE_PENDING = "JOB_STATE_PENDING"
JOB_STATE_RUNNING = "JOB_STATE_RUNNING"
JOB_STATE_SUCCEEDED = "JOB_STATE_SUCCEEDED"
JOB_STATE_FAILED = "JOB_STATE_FAILED"
JOB_STATE_CANCELLING = "JOB_STATE_CANCELLING"
JOB_STATE_CANCELLED = "JOB_STATE_CANCELLED"
JOB_STATE_PAUSED = "JOB_STATE_PAUSED"
JOB_STATE_EXPIRED = "JOB_STATE_EXPIRED"
JOB_STATE_UPDATING = "JOB_STATE_UPDATING"
JOB_STATE_PARTIALLY_SUCCEEDED = "JOB_STATE_PARTIALLY_SUCCEEDED"

#: States after which the job never changes again (python-aiplatform also stops polling on PAUSED).
TERMINAL_JOB_STATES = frozenset(
    {
        JOB_STATE_SUCCEEDED,
        JOB_STATE_FAILED,
        JOB_STATE_CANCELLED,
        JOB_STATE_EXPIRED,
        JOB_STATE_PARTIALLY_SUCCEEDED,
    }
)
KNOWN_JOB_STATES = frozenset(
    {
        JOB_STATE_UNSPECIFIED,
        JOB_STATE_QUEUED,
        JOB_STATE_PENDING,
        JOB_STATE_RUNNING,
        JOB_STATE_CANCELLING,
        JOB_STATE_PAUSED,
        JOB_STATE_UPDATING,
    }
    | TERMINAL_JOB_STATES
)

ADAPTER_SIZES = (
    "ADAPTER_SIZE_UNSPECIFIED",
    "ADAPTER_SIZE_ONE",
    "ADAPTER_SIZE_TWO",
    "ADAPTER_SIZE_FOUR",
    "ADAPTER_SIZE_EIGHT",
    "ADAPTER_SIZE_SIXTEEN",
    "ADAPTER_SIZE_THIRTY_TWO",
)


class SupervisedHyperParameters(ApiModel):
    epoch_count: Int64 | None = None
    learning_rate_multiplier: float | None = None
    adapter_size: str | None = None


class SupervisedTuningSpec(ApiModel):
    training_dataset_uri: str = ""
    validation_dataset_uri: str | None = None
    hyper_parameters: SupervisedHyperParameters | None = None
    export_last_checkpoint_only: bool | None = None


class PreferenceOptimizationHyperParameters(ApiModel):
    """v1 discovery (revision 20261106): epochCount int64, learningRateMultiplier and beta double."""

    epoch_count: Int64 | None = None
    learning_rate_multiplier: float | None = None
    adapter_size: str | None = None
    beta: float | None = None


class PreferenceOptimizationSpec(ApiModel):
    """The `preferenceOptimizationSpec` member of the TuningJob one-of `tuning_spec` (v1, REST)."""

    training_dataset_uri: str = ""
    validation_dataset_uri: str | None = None
    hyper_parameters: PreferenceOptimizationHyperParameters | None = None
    export_last_checkpoint_only: bool | None = None


class EncryptionSpec(ApiModel):
    kms_key_name: str


class TunedModelCheckpoint(ApiModel):
    checkpoint_id: str = ""
    epoch: Int64 = 0
    step: Int64 = 0
    endpoint: str = ""


class VertexTunedModel(ApiModel):
    """The output of a succeeded job: a Model version and the Endpoint it is deployed to."""

    model: str = ""
    endpoint: str = ""
    checkpoints: list[TunedModelCheckpoint] = []


class SupervisedTuningDataStats(ApiModel):
    """The summary of the training data; the distributions Vertex also sends are not modelled."""

    tuning_dataset_example_count: Int64 = 0
    total_tuning_character_count: Int64 = 0
    total_billable_token_count: Int64 = 0
    tuning_step_count: Int64 = 0
    # Examples Vertex left out of the data (too many tokens, an invalid image, ...): the count, a partial
    # sample of their 1-based indices, and for each sampled index the reason (v1 and v1beta1 alike).
    total_truncated_example_count: Int64 = 0
    truncated_example_indices: list[Int64] = []
    dropped_example_reasons: list[str] = []


class PreferenceOptimizationDataStats(ApiModel):
    """The summary of preference data (v1 discovery): int64 counts, and a partial sample of the dropped
    examples (1-based indices as int64 strings, one reason each); the distributions are not modelled."""

    tuning_dataset_example_count: Int64 = 0
    total_billable_token_count: Int64 = 0
    tuning_step_count: Int64 = 0
    dropped_example_indices: list[Int64] = []
    dropped_example_reasons: list[str] = []


class TuningDataStats(ApiModel):
    supervised_tuning_data_stats: SupervisedTuningDataStats | None = None
    preference_optimization_data_stats: PreferenceOptimizationDataStats | None = None


class AggregationResult(ApiModel):
    """One aggregated score (v1 discovery AggregationResult): the aggregation and one metric value, of which
    each kind is an object with a `score` (pairwise: `pairwiseChoice` instead)."""

    aggregation_metric: str | None = None
    bleu_metric_value: dict[str, Any] | None = None
    rouge_metric_value: dict[str, Any] | None = None
    exact_match_metric_value: dict[str, Any] | None = None
    pointwise_metric_result: dict[str, Any] | None = None
    pairwise_metric_result: dict[str, Any] | None = None
    custom_code_execution_result: dict[str, Any] | None = None


class AggregationOutput(ApiModel):
    aggregation_results: list[AggregationResult] = []


class OutputInfo(ApiModel):
    gcs_output_directory: str | None = None


class EvaluateDatasetResponse(ApiModel):
    aggregation_output: AggregationOutput | None = None
    output_info: OutputInfo | None = None


class EvaluateDatasetRun(ApiModel):
    """One evaluation of a tuning job (v1 discovery EvaluateDatasetRun, all output only): `operationName` is
    deprecated in favour of `evaluationRun` (projects/P/locations/L/evaluationRuns/ID)."""

    checkpoint_id: str | None = None
    evaluation_run: str | None = None
    operation_name: str | None = None
    evaluate_dataset_response: EvaluateDatasetResponse | None = None
    error: RpcStatus | None = None


class PreTunedModel(ApiModel):
    """Continuous tuning's source: a tuned Model (and checkpoint); `baseModel` is output only."""

    tuned_model_name: str = ""
    checkpoint_id: str | None = None
    base_model: str | None = None


class TuningJobMetadata(ApiModel):
    """v1beta1 progress counters; `completedStepCount` is documented as set for multi-step RL only."""

    completed_epoch_count: Int64 = 0
    completed_step_count: Int64 = 0


class TuningJob(ApiModel):
    """A Vertex AI tuning job as Google reports it. `name` is required: a job without one is malformed."""

    name: str
    base_model: str | None = None
    pre_tuned_model: PreTunedModel | None = None
    supervised_tuning_spec: SupervisedTuningSpec | None = None
    preference_optimization_spec: PreferenceOptimizationSpec | None = None
    tuned_model_display_name: str | None = None
    description: str | None = None
    state: str = JOB_STATE_UNSPECIFIED
    create_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    update_time: datetime | None = None
    error: RpcStatus | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    experiment: str | None = None
    tuned_model: VertexTunedModel | None = None
    tuning_data_stats: TuningDataStats | None = None
    evaluate_dataset_runs: list[EvaluateDatasetRun] = []
    service_account: str | None = None
    encryption_spec: EncryptionSpec | None = None
    # v1beta1 only (absent from a v1 answer): where a pending or running job really is
    # (TUNING_JOB_STATE_WAITING_FOR_QUOTA, ..._PROCESSING_DATASET, ..._WAITING_FOR_CAPACITY, ..._TUNING,
    # ..._POST_PROCESSING), and its progress counters.
    tuning_job_state: str | None = None
    tuning_job_metadata: TuningJobMetadata | None = None

    @property
    def job_id(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_JOB_STATES


class TuningJobCreate(ApiModel):
    """The body of `tuningJobs.create`: inputs only (Vertex generates the id and every output field)."""

    base_model: str | None = None
    pre_tuned_model: PreTunedModel | None = None
    supervised_tuning_spec: SupervisedTuningSpec | None = None
    preference_optimization_spec: PreferenceOptimizationSpec | None = None
    tuned_model_display_name: str | None = None
    description: str | None = None
    labels: dict[str, str] | None = None
    service_account: str | None = None
    encryption_spec: EncryptionSpec | None = None


class TuningJobPage(ApiModel):
    tuning_jobs: list[TuningJob] = []
    next_page_token: str = ""


class MetricPoint(ApiModel):
    """The latest value of one TensorBoard scalar time series."""

    step: Int64
    value: float
    wall_time: datetime | None = None


TRAIN_TOTAL_LOSS = "/train_total_loss"
TRAIN_ACCURACY = "/train_fraction_of_correct_next_step_preds"
TRAIN_NUM_PREDICTIONS = "/train_num_predictions"
EVAL_TOTAL_LOSS = "/eval_total_loss"
EVAL_ACCURACY = "/eval_fraction_of_correct_next_step_preds"
EVAL_NUM_PREDICTIONS = "/eval_num_predictions"
TUNING_METRIC_NAMES = (
    TRAIN_TOTAL_LOSS,
    TRAIN_ACCURACY,
    TRAIN_NUM_PREDICTIONS,
    EVAL_TOTAL_LOSS,
    EVAL_ACCURACY,
    EVAL_NUM_PREDICTIONS,
)


class TuningMetrics(ApiModel):
    """The latest training and validation metrics of a job, keyed by TensorBoard display name.

    Empty (`latest == {}`) while the job has no experiment yet or has logged nothing.
    """

    experiment: str | None = None
    tensorboard_run: str | None = None
    latest: dict[str, MetricPoint] = Field(default_factory=dict)

    @property
    def train_total_loss(self) -> MetricPoint | None:
        return self.latest.get(TRAIN_TOTAL_LOSS)

    @property
    def train_accuracy(self) -> MetricPoint | None:
        return self.latest.get(TRAIN_ACCURACY)

    @property
    def train_num_predictions(self) -> MetricPoint | None:
        return self.latest.get(TRAIN_NUM_PREDICTIONS)

    @property
    def eval_total_loss(self) -> MetricPoint | None:
        return self.latest.get(EVAL_TOTAL_LOSS)

    @property
    def eval_accuracy(self) -> MetricPoint | None:
        return self.latest.get(EVAL_ACCURACY)

    @property
    def eval_num_predictions(self) -> MetricPoint | None:
        return self.latest.get(EVAL_NUM_PREDICTIONS)
