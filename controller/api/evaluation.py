"""Evaluation of a tuning job's checkpoints (`supervisedTuningSpec.evaluationConfig`) and its results.

Vertex AI evaluates the checkpoints of a supervised tuning job with the metrics given here and writes the
results under a Cloud Storage prefix; the job then lists one `evaluateDatasetRun` per evaluation, which
status summarises. The shapes are Vertex's own: REST discovery aiplatform.v1.json,
revision 20261106, messages EvaluationConfig, Metric, OutputConfig, AutoraterConfig and EvaluateDatasetRun.
Vertex marks the feature Preview.

Not modelled (so refused as unknown fields): `Metric.llmBasedMetricSpec`, `Metric.computationBasedMetricSpec`
and `PredefinedMetricSpec.metricSpecParameters` (they hold free-form protobuf Structs), `Metric.metadata`,
`EvaluationConfig.datasetCustomMetrics`, and the generation settings beyond temperature, topP, topK and
maxOutputTokens.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from controller.api.base import ApiModel, OneOf, StatusModel
from controller.api.common import GenerationConfig, GoogleError

GCS_PREFIX_PATTERN = r"^gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/.*)?$"
MAX_METRICS = 20
MAX_TEMPLATE_LENGTH = 32_768


class AggregationMetric(StrEnum):
    """How per-example scores are aggregated (`Metric.aggregationMetrics`)."""

    AVERAGE = "AVERAGE"
    MODE = "MODE"
    STANDARD_DEVIATION = "STANDARD_DEVIATION"
    VARIANCE = "VARIANCE"
    MINIMUM = "MINIMUM"
    MAXIMUM = "MAXIMUM"
    MEDIAN = "MEDIAN"
    PERCENTILE_P90 = "PERCENTILE_P90"
    PERCENTILE_P95 = "PERCENTILE_P95"
    PERCENTILE_P99 = "PERCENTILE_P99"


class CustomOutputFormatConfig(ApiModel):
    """Replace a model-based metric's score and explanation by the judge model's raw output."""

    return_raw_output: bool | None = Field(default=None, description="Return the judge's raw output.")


class _JudgedMetricSpec(ApiModel):
    """What every model-based metric holds: the judge model's prompt template and system instructions."""

    metric_prompt_template: str = Field(
        min_length=1,
        max_length=MAX_TEMPLATE_LENGTH,
        description="Prompt template for the judge model (required).",
    )
    system_instruction: str | None = Field(
        default=None, max_length=MAX_TEMPLATE_LENGTH, description="System instructions for the judge model."
    )


class PointwiseMetricSpec(_JudgedMetricSpec):
    """A model-based metric that scores each response on its own."""

    custom_output_format_config: CustomOutputFormatConfig | None = Field(
        default=None, description="Return the judge's raw output instead of a score and explanation."
    )


class PairwiseMetricSpec(_JudgedMetricSpec):
    """A model-based metric that compares each response with a baseline response."""

    candidate_response_field_name: str | None = Field(
        default=None, max_length=256, description="Field of the dataset holding the candidate response."
    )
    baseline_response_field_name: str | None = Field(
        default=None, max_length=256, description="Field of the dataset holding the baseline response."
    )
    custom_output_format_config: CustomOutputFormatConfig | None = Field(
        default=None, description="Return the judge's raw output instead of a choice and explanation."
    )


class ExactMatchSpec(ApiModel):
    """Exact match of the response with the reference; it has no settings (write `exactMatchSpec: {}`)."""


class BleuSpec(ApiModel):
    """BLEU score of the response against the reference."""

    use_effective_order: bool | None = Field(
        default=None, description="Use effective order when computing BLEU."
    )


class RougeSpec(ApiModel):
    """ROUGE score of the response against the reference."""

    rouge_type: str | None = Field(
        default=None,
        max_length=16,
        pattern=r"^(rouge[1-9]|rougeL|rougeLsum)$",
        description="rouge1 to rouge9, rougeL or rougeLsum.",
    )
    use_stemmer: bool | None = Field(default=None, description="Stem words before comparing.")
    split_summaries: bool | None = Field(default=None, description="Split summaries (with rougeLsum).")


class PredefinedMetricSpec(ApiModel):
    """A metric Vertex AI defines, by name."""

    metric_spec_name: str = Field(
        min_length=1,
        max_length=256,
        description="Name of the predefined metric, such as instruction_following_v1 (required).",
    )


class CustomCodeExecutionSpec(ApiModel):
    """A metric computed by a Python function Vertex AI runs on each example."""

    evaluation_function: str = Field(
        min_length=1,
        max_length=MAX_TEMPLATE_LENGTH,
        description="Python source defining `def evaluate(instance: dict[str, Any]) -> float` (required).",
    )


class EvaluationMetric(ApiModel):
    """One metric: exactly one metric spec, and how its per-example scores are aggregated.

    The discovery document gives the metric specs no field behaviour (neither Optional nor Required), as it
    does for the members of a one-of; Google's examples set one per metric.
    """

    aggregation_metrics: list[AggregationMetric] | None = Field(
        default=None, max_length=10, description="Aggregations to report, such as AVERAGE and MEDIAN."
    )
    pointwise_metric_spec: PointwiseMetricSpec | None = Field(
        default=None, description="A judge model scores each response."
    )
    pairwise_metric_spec: PairwiseMetricSpec | None = Field(
        default=None, description="A judge model compares each response with a baseline."
    )
    exact_match_spec: ExactMatchSpec | None = Field(
        default=None, description="Exact match with the reference."
    )
    bleu_spec: BleuSpec | None = Field(default=None, description="BLEU against the reference.")
    rouge_spec: RougeSpec | None = Field(default=None, description="ROUGE against the reference.")
    predefined_metric_spec: PredefinedMetricSpec | None = Field(
        default=None, description="A metric Vertex AI defines, by name."
    )
    custom_code_execution_spec: CustomCodeExecutionSpec | None = Field(
        default=None, description="A Python function scores each response."
    )

    one_of = (
        OneOf(
            (
                "pointwiseMetricSpec",
                "pairwiseMetricSpec",
                "exactMatchSpec",
                "bleuSpec",
                "rougeSpec",
                "predefinedMetricSpec",
                "customCodeExecutionSpec",
            ),
            required=True,
        ),
    )


class GcsDestination(ApiModel):
    output_uri_prefix: str = Field(
        max_length=2048,
        pattern=GCS_PREFIX_PATTERN,
        description="Cloud Storage folder, gs://bucket/path/, that receives the evaluation results.",
    )


class EvaluationOutputConfig(ApiModel):
    """Where the evaluation results are written."""

    gcs_destination: GcsDestination = Field(description="Cloud Storage folder for the results (required).")


class AutoraterConfig(ApiModel):
    """The judge model of model-based metrics."""

    autorater_model: str | None = Field(
        default=None,
        max_length=512,
        pattern=(r"^projects/[^/]+/locations/[^/]+/(publishers/[^/]+/models/[^/]+|endpoints/[^/]+)$"),
        description=(
            "Judge model: projects/P/locations/L/publishers/google/models/M, or a tuned judge's endpoint "
            "projects/P/locations/L/endpoints/E; Vertex AI's default when absent."
        ),
    )
    sampling_count: int | None = Field(
        default=None, ge=1, le=32, description="Samples per example, 1 to 32 (Vertex AI's default: 4)."
    )
    flip_enabled: bool | None = Field(
        default=None,
        description="Pairwise metrics: also judge with the responses swapped (default: true).",
    )
    generation_config: GenerationConfig | None = Field(
        default=None, description="Sampling settings of the judge model."
    )


class EvaluationConfig(ApiModel):
    """Evaluate the job's checkpoints with these metrics (Vertex AI Preview)."""

    metrics: list[EvaluationMetric] = Field(
        min_length=1, max_length=MAX_METRICS, description=f"The metrics, 1 to {MAX_METRICS} (required)."
    )
    output_config: EvaluationOutputConfig = Field(description="Where the results are written (required).")
    autorater_config: AutoraterConfig | None = Field(
        default=None, description="The judge model of model-based metrics."
    )
    inference_generation_config: GenerationConfig | None = Field(
        default=None, description="Sampling settings of the tuned model when it answers the evaluation data."
    )


# -- status --------------------------------------------------------------------------------------------------


class EvaluationResult(StatusModel):
    """One aggregated score of one metric (Vertex AI lists one per metric and aggregation)."""

    metric: str | None = Field(
        default=None,
        description=(
            "Which kind of metric the score is for: bleu, rouge, exactMatch, pointwise, pairwise or "
            "customCodeExecution."
        ),
    )
    aggregation_metric: str | None = Field(default=None, description="The aggregation, such as AVERAGE.")
    score: float | None = Field(default=None, description="The aggregated score.")
    pairwise_choice: str | None = Field(
        default=None, description="Pairwise metrics: BASELINE, CANDIDATE or TIE."
    )


class EvaluationRun(StatusModel):
    """One evaluation Vertex AI ran for the job (its EvaluateDatasetRun), usually one per checkpoint."""

    checkpoint_id: str | None = Field(default=None, description="The checkpoint evaluated.")
    evaluation_run: str | None = Field(
        default=None, description="The evaluation run, projects/P/locations/L/evaluationRuns/ID."
    )
    operation_name: str | None = Field(
        default=None, description="The evaluation's operation (the older way Vertex AI names a run)."
    )
    output_directory: str | None = Field(
        default=None, description="The Cloud Storage folder holding this evaluation's results."
    )
    results: list[EvaluationResult] | None = Field(default=None, description="The aggregated scores.")
    error: GoogleError | None = Field(default=None, description="Why the evaluation failed.")
