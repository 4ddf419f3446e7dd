"""Valid manifests and a corpus of invalid ones, each with the field path its error must name.

Every invalid case changes exactly one thing in a valid manifest, so the API server reports that defect and
no other (it skips CEL rules once a schema error is found, and reports only unknown fields when there is one).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]


def tuning_job(name: str = "tj-sample") -> Manifest:
    return {
        "apiVersion": "tuning.vertexops.dev/v1alpha1",
        "kind": "TuningJob",
        "metadata": {"name": name},
        "spec": {
            "projectID": "acme-ml-prod",
            "location": "us-central1",
            "baseModel": "gemini-2.5-flash",
            "tunedModelDisplayName": "Sample",
            "description": "A sample job.",
            "supervisedTuningSpec": {
                "trainingDatasetUri": "gs://acme-bucket/train.jsonl",
                "validationDatasetUri": "gs://acme-bucket/validation.jsonl",
                "hyperParameters": {
                    "epochCount": 3,
                    "learningRateMultiplier": 1.5,
                    "adapterSize": "ADAPTER_SIZE_FOUR",
                },
                "exportLastCheckpointOnly": True,
            },
            "labels": {"team": "ml", "stage": "dev"},
            "encryptionSpec": {
                "kmsKeyName": "projects/acme-ml-prod/locations/us-central1/keyRings/r/cryptoKeys/k"
            },
            "serviceAccount": "tuner@acme-ml-prod.iam.gserviceaccount.com",
            "deletionPolicy": "Cancel",
            "testPrompts": [
                {
                    "prompt": "Hello",
                    "generationConfig": {"temperature": 0.5, "topP": 0.9, "topK": 10, "maxOutputTokens": 64},
                }
            ],
            "publish": {"configMapName": "sample-model"},
        },
    }


PREFERENCE_SPEC: dict[str, Any] = {
    "trainingDatasetUri": "gs://acme-bucket/preferences.jsonl",
    "validationDatasetUri": "gs://acme-bucket/preferences-validation.jsonl",
    "hyperParameters": {
        "epochCount": 2,
        "learningRateMultiplier": 1.0,
        "adapterSize": "ADAPTER_SIZE_FOUR",
        "beta": 0.1,
    },
    "exportLastCheckpointOnly": True,
}


EVALUATION_CONFIG: dict[str, Any] = {
    "metrics": [
        {"aggregationMetrics": ["AVERAGE", "STANDARD_DEVIATION"], "bleuSpec": {"useEffectiveOrder": True}},
        {"rougeSpec": {"rougeType": "rougeL", "useStemmer": True, "splitSummaries": False}},
        {"exactMatchSpec": {}},
        {
            "aggregationMetrics": ["MEDIAN"],
            "pointwiseMetricSpec": {
                "metricPromptTemplate": "Rate the fluency of {response} from 1 to 5.",
                "systemInstruction": "You are a strict grader.",
                "customOutputFormatConfig": {"returnRawOutput": False},
            },
        },
        {
            "pairwiseMetricSpec": {
                "metricPromptTemplate": "Which is better: {baseline_response} or {response}?",
                "systemInstruction": "Compare helpfulness.",
                "candidateResponseFieldName": "response",
                "baselineResponseFieldName": "baseline_response",
                "customOutputFormatConfig": {"returnRawOutput": True},
            }
        },
        {"predefinedMetricSpec": {"metricSpecName": "instruction_following_v1"}},
        {"customCodeExecutionSpec": {"evaluationFunction": "def evaluate(instance):\n    return 1.0\n"}},
    ],
    "outputConfig": {"gcsDestination": {"outputUriPrefix": "gs://acme-bucket/evaluation/"}},
    "autoraterConfig": {
        "autoraterModel": "projects/acme-ml-prod/locations/us-central1/publishers/google/models/judge",
        "samplingCount": 4,
        "flipEnabled": True,
        "generationConfig": {"temperature": 0.0, "topP": 1.0, "topK": 1, "maxOutputTokens": 512},
    },
    "inferenceGenerationConfig": {"temperature": 0.2, "topP": 0.9, "topK": 40, "maxOutputTokens": 1024},
}


def evaluated_tuning_job(name: str = "tj-evaluated") -> Manifest:
    """The sample TuningJob with an evaluation of its checkpoints, every metric kind among its metrics."""
    manifest = tuning_job(name)
    manifest["spec"]["supervisedTuningSpec"]["evaluationConfig"] = copy.deepcopy(EVALUATION_CONFIG)
    return manifest


def preference_tuning_job(name: str = "tj-preference") -> Manifest:
    """The sample TuningJob as a preference-tuning job: preferenceOptimizationSpec instead of supervised."""
    manifest = tuning_job(name)
    del manifest["spec"]["supervisedTuningSpec"]
    manifest["spec"]["preferenceOptimizationSpec"] = copy.deepcopy(PREFERENCE_SPEC)
    return manifest


def tuned_model(name: str = "tm-sample") -> Manifest:
    return {
        "apiVersion": "tuning.vertexops.dev/v1alpha1",
        "kind": "TunedModel",
        "metadata": {"name": name},
        "spec": {
            "displayName": "Sample",
            "description": "A sample model.",
            "baseModel": "models/gemini-1.5-flash-001-tuning",
            "temperature": 0.5,
            "topP": 0.9,
            "topK": 20,
            "readerProjectNumbers": [123456789012],
            "tuningTask": {
                "hyperparameters": {"learningRate": 0.001, "epochCount": 3, "batchSize": 4},
                "trainingData": {"examples": [{"textInput": "1", "output": "2"}]},
            },
            "apiKeySecretRef": {"name": "gemini-key", "key": "api-key"},
            "deletionPolicy": "Delete",
            "testPrompts": [{"prompt": "3"}],
        },
    }


def _walk(manifest: Manifest, dotted: str) -> tuple[Any, str]:
    *parents, last = dotted.split(".")
    node: Any = manifest
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, last


def with_value(dotted: str, value: Any) -> Callable[[Manifest], None]:
    """A mutation setting the field at a dotted path (list indexes as numbers)."""

    def mutate(manifest: Manifest) -> None:
        node, last = _walk(manifest, dotted)
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def without(dotted: str) -> Callable[[Manifest], None]:
    def mutate(manifest: Manifest) -> None:
        node, last = _walk(manifest, dotted)
        del node[last]

    return mutate


def apply_all(*mutations: Callable[[Manifest], None]) -> Callable[[Manifest], None]:
    def mutate(manifest: Manifest) -> None:
        for mutation in mutations:
            mutation(manifest)

    return mutate


@dataclass(frozen=True)
class Invalid:
    """A manifest the API server must reject on create, and the words its error must contain."""

    id: str
    base: Callable[[str], Manifest]
    mutate: Callable[[Manifest], None]
    expect: tuple[str, ...]
    # False when pydantic accepts it on purpose (lax type coercion such as "3" -> 3); the API server and
    # the operator then still agree, because the server is the gate.
    rejected_by_models: bool = True

    def manifest(self, name: str | None = None) -> Manifest:
        manifest = self.base(name or self.id)
        self.mutate(manifest)
        return manifest


@dataclass(frozen=True)
class Immutable:
    """A valid manifest, then a change to it that the API server must reject on update."""

    id: str
    base: Callable[[str], Manifest]
    change: Callable[[Manifest], None]
    expect: tuple[str, ...]
    prepare: Callable[[Manifest], None] = field(default=lambda _m: None)

    def manifests(self) -> tuple[Manifest, Manifest]:
        first = self.base(self.id)
        self.prepare(first)
        second = copy.deepcopy(first)
        self.change(second)
        return first, second


TJ = tuning_job
MODEL = "projects/acme-ml-prod/locations/us-central1/models/123@1"
TJP = preference_tuning_job
TJE = evaluated_tuning_job


def _reference_itself(manifest: Manifest) -> None:
    manifest["spec"]["preTunedModel"] = {"tuningJobRef": {"name": manifest["metadata"]["name"]}}


TM = tuned_model
SPEC = "spec"
STS = "spec.supervisedTuningSpec"
HP = "spec.supervisedTuningSpec.hyperParameters"
POS = "spec.preferenceOptimizationSpec"
PHP = "spec.preferenceOptimizationSpec.hyperParameters"
EVAL = "spec.supervisedTuningSpec.evaluationConfig"
TASK = "spec.tuningTask"

INVALID: tuple[Invalid, ...] = (
    # -- TuningJob: types, formats, ranges, enums
    Invalid("tj-epoch-string", TJ, with_value(f"{HP}.epochCount", "three"), (f"{HP}.epochCount",)),
    Invalid(
        "tj-epoch-numeric-string",
        TJ,
        with_value(f"{HP}.epochCount", "3"),
        (f"{HP}.epochCount",),
        rejected_by_models=False,
    ),
    Invalid("tj-epoch-zero", TJ, with_value(f"{HP}.epochCount", 0), (f"{HP}.epochCount",)),
    Invalid("tj-epoch-fraction", TJ, with_value(f"{HP}.epochCount", 2.5), (f"{HP}.epochCount",)),
    Invalid(
        "tj-lrm-zero",
        TJ,
        with_value(f"{HP}.learningRateMultiplier", 0),
        (f"{HP}.learningRateMultiplier",),
    ),
    Invalid(
        "tj-lrm-negative",
        TJ,
        with_value(f"{HP}.learningRateMultiplier", -1.0),
        (f"{HP}.learningRateMultiplier",),
    ),
    Invalid(
        "tj-adapter-unknown",
        TJ,
        with_value(f"{HP}.adapterSize", "ADAPTER_SIZE_THREE"),
        (f"{HP}.adapterSize",),
    ),
    Invalid(
        "tj-adapter-unspecified",
        TJ,
        with_value(f"{HP}.adapterSize", "ADAPTER_SIZE_UNSPECIFIED"),
        (f"{HP}.adapterSize",),
    ),
    Invalid(
        "tj-training-uri-s3",
        TJ,
        with_value(f"{STS}.trainingDatasetUri", "s3://bucket/train.jsonl"),
        (f"{STS}.trainingDatasetUri",),
    ),
    Invalid(
        "tj-training-uri-no-object",
        TJ,
        with_value(f"{STS}.trainingDatasetUri", "gs://bucket"),
        (f"{STS}.trainingDatasetUri",),
    ),
    Invalid(
        "tj-validation-uri-https",
        TJ,
        with_value(f"{STS}.validationDatasetUri", "https://storage.googleapis.com/b/v.jsonl"),
        (f"{STS}.validationDatasetUri",),
    ),
    # A Vertex AI multimodal dataset names projects/P/locations/L/datasets/ID (a number): nothing else.
    Invalid(
        "tj-training-dataset-id-not-numeric",
        TJ,
        with_value(f"{STS}.trainingDatasetUri", "projects/acme-ml-prod/locations/us-central1/datasets/faq"),
        (f"{STS}.trainingDatasetUri",),
    ),
    Invalid(
        "tj-training-dataset-no-location",
        TJ,
        with_value(f"{STS}.trainingDatasetUri", "projects/acme-ml-prod/datasets/123"),
        (f"{STS}.trainingDatasetUri",),
    ),
    Invalid(
        "tj-validation-dataset-other-resource",
        TJ,
        with_value(f"{STS}.validationDatasetUri", "projects/acme-ml-prod/locations/us-central1/models/123"),
        (f"{STS}.validationDatasetUri",),
    ),
    Invalid(
        "tj-preference-multimodal-dataset",
        TJP,
        with_value(f"{POS}.trainingDatasetUri", "projects/acme-ml-prod/locations/us-central1/datasets/123"),
        (f"{POS}.trainingDatasetUri",),
    ),
    Invalid(
        "tj-training-uri-missing", TJ, without(f"{STS}.trainingDatasetUri"), (f"{STS}.trainingDatasetUri",)
    ),
    Invalid("tj-base-model-missing", TJ, without(f"{SPEC}.baseModel"), ("spec.baseModel", "spec.jobName")),
    Invalid(
        "tj-pre-tuned-with-base-model",
        TJ,
        with_value(f"{SPEC}.preTunedModel", {"tunedModelName": MODEL}),
        ("at most one of baseModel or preTunedModel",),
    ),
    Invalid(
        "tj-pre-tuned-two-sources",
        TJ,
        apply_all(
            without(f"{SPEC}.baseModel"),
            with_value(f"{SPEC}.preTunedModel", {"tunedModelName": MODEL, "tuningJobRef": {"name": "base"}}),
        ),
        ("exactly one of tunedModelName or tuningJobRef",),
    ),
    Invalid(
        "tj-pre-tuned-no-source",
        TJ,
        apply_all(without(f"{SPEC}.baseModel"), with_value(f"{SPEC}.preTunedModel", {"checkpointId": "2"})),
        ("exactly one of tunedModelName or tuningJobRef",),
    ),
    Invalid(
        "tj-pre-tuned-model-name-bad",
        TJ,
        apply_all(
            without(f"{SPEC}.baseModel"),
            with_value(f"{SPEC}.preTunedModel", {"tunedModelName": "gemini-2.5-flash"}),
        ),
        ("spec.preTunedModel.tunedModelName",),
    ),
    Invalid(
        "tj-pre-tuned-ref-self",
        TJ,
        apply_all(without(f"{SPEC}.baseModel"), _reference_itself),
        ("spec.preTunedModel.tuningJobRef.name", "its own model"),
    ),
    Invalid(
        "tj-pre-tuned-ref-namespace",
        TJ,
        apply_all(
            without(f"{SPEC}.baseModel"),
            with_value(f"{SPEC}.preTunedModel", {"tuningJobRef": {"name": "base", "namespace": "other"}}),
        ),
        ('unknown field "spec.preTunedModel.tuningJobRef.namespace"',),
    ),
    Invalid(
        "tj-tuning-spec-missing",
        TJ,
        without(f"{SPEC}.supervisedTuningSpec"),
        ("spec.supervisedTuningSpec", "unless spec.jobName"),
    ),
    Invalid(
        "tj-job-name-not-a-job",
        TJ,
        with_value(f"{SPEC}.jobName", "projects/acme-ml-prod/locations/us-central1/models/1"),
        ("spec.jobName",),
    ),
    Invalid(
        "tj-adoption-policy-unknown",
        TJ,
        with_value(f"{SPEC}.adoptionPolicy", "Always"),
        ("spec.adoptionPolicy",),
    ),
    Invalid("tj-base-model-space", TJ, with_value(f"{SPEC}.baseModel", "gemini 2.5"), ("spec.baseModel",)),
    Invalid(
        "tj-export-not-bool",
        TJ,
        with_value(f"{STS}.exportLastCheckpointOnly", "yes"),
        (f"{STS}.exportLastCheckpointOnly",),
        rejected_by_models=False,
    ),
    Invalid(
        "tj-display-name-too-long",
        TJ,
        with_value(f"{SPEC}.tunedModelDisplayName", "x" * 129),
        ("spec.tunedModelDisplayName",),
    ),
    Invalid(
        "tj-deletion-policy", TJ, with_value(f"{SPEC}.deletionPolicy", "Destroy"), ("spec.deletionPolicy",)
    ),
    Invalid("tj-project-uppercase", TJ, with_value(f"{SPEC}.projectID", "Acme-Prod"), ("spec.projectID",)),
    Invalid("tj-location-bad", TJ, with_value(f"{SPEC}.location", "us central1"), ("spec.location",)),
    Invalid(
        "tj-kms-key-bad",
        TJ,
        with_value(f"{SPEC}.encryptionSpec.kmsKeyName", "my-key"),
        ("spec.encryptionSpec.kmsKeyName",),
    ),
    Invalid(
        "tj-service-account-bad",
        TJ,
        with_value(f"{SPEC}.serviceAccount", "not-an-email"),
        ("spec.serviceAccount",),
    ),
    Invalid(
        "tj-publish-name-bad",
        TJ,
        with_value(f"{SPEC}.publish.configMapName", "Bad_Name"),
        ("spec.publish.configMapName",),
    ),
    Invalid(
        "tj-test-prompt-empty",
        TJ,
        with_value(f"{SPEC}.testPrompts.0.prompt", ""),
        ("spec.testPrompts[0].prompt",),
    ),
    Invalid(
        "tj-test-prompt-temperature",
        TJ,
        with_value(f"{SPEC}.testPrompts.0.generationConfig.temperature", 2.5),
        ("spec.testPrompts[0].generationConfig.temperature",),
    ),
    Invalid(
        "tj-too-many-test-prompts",
        TJ,
        with_value(f"{SPEC}.testPrompts", [{"prompt": f"p{i}"} for i in range(21)]),
        ("spec.testPrompts",),
    ),
    # -- TuningJob: preference tuning (the one-of tuning_spec)
    Invalid(
        "tj-two-tuning-specs",
        TJ,
        with_value(POS, PREFERENCE_SPEC),
        ("spec", "at most one of supervisedTuningSpec or preferenceOptimizationSpec"),
    ),
    Invalid(
        "tj-preference-without-base-model",
        TJP,
        without(f"{SPEC}.baseModel"),
        ("spec.baseModel", "spec.preferenceOptimizationSpec", "unless spec.jobName"),
    ),
    Invalid(
        "tj-beta-in-supervised-spec",
        TJ,
        with_value(f"{HP}.beta", 0.1),
        (f'unknown field "{HP}.beta"',),
    ),
    Invalid("tj-preference-beta-negative", TJP, with_value(f"{PHP}.beta", -0.5), (f"{PHP}.beta",)),
    Invalid("tj-preference-epoch-zero", TJP, with_value(f"{PHP}.epochCount", 0), (f"{PHP}.epochCount",)),
    Invalid(
        "tj-preference-training-uri-s3",
        TJP,
        with_value(f"{POS}.trainingDatasetUri", "s3://bucket/preferences.jsonl"),
        (f"{POS}.trainingDatasetUri",),
    ),
    Invalid(
        "tj-preference-training-uri-missing",
        TJP,
        without(f"{POS}.trainingDatasetUri"),
        (f"{POS}.trainingDatasetUri",),
    ),
    # -- TuningJob: evaluation
    Invalid(
        "tj-eval-metric-two-specs",
        TJE,
        with_value(f"{EVAL}.metrics.0.rougeSpec", {}),
        (f"{EVAL}.metrics[0]", "exactly one of pointwiseMetricSpec or"),
    ),
    Invalid(
        "tj-eval-metric-no-spec",
        TJE,
        with_value(f"{EVAL}.metrics.0", {"aggregationMetrics": ["AVERAGE"]}),
        (f"{EVAL}.metrics[0]", "exactly one of pointwiseMetricSpec or"),
    ),
    Invalid("tj-eval-no-metrics", TJE, with_value(f"{EVAL}.metrics", []), (f"{EVAL}.metrics",)),
    Invalid("tj-eval-output-missing", TJE, without(f"{EVAL}.outputConfig"), (f"{EVAL}.outputConfig",)),
    Invalid(
        "tj-eval-output-not-gcs",
        TJE,
        with_value(f"{EVAL}.outputConfig.gcsDestination.outputUriPrefix", "s3://bucket/eval/"),
        (f"{EVAL}.outputConfig.gcsDestination.outputUriPrefix",),
    ),
    Invalid(
        "tj-eval-aggregation-unknown",
        TJE,
        with_value(f"{EVAL}.metrics.0.aggregationMetrics", ["MEAN"]),
        (f"{EVAL}.metrics[0].aggregationMetrics[0]",),
    ),
    Invalid(
        "tj-eval-sampling-count-high",
        TJE,
        with_value(f"{EVAL}.autoraterConfig.samplingCount", 33),
        (f"{EVAL}.autoraterConfig.samplingCount",),
    ),
    Invalid(
        "tj-eval-autorater-not-a-model",
        TJE,
        with_value(f"{EVAL}.autoraterConfig.autoraterModel", "gemini-2.5-pro"),
        (f"{EVAL}.autoraterConfig.autoraterModel",),
    ),
    Invalid(
        "tj-eval-in-preference-spec",
        TJP,
        with_value(f"{POS}.evaluationConfig", EVALUATION_CONFIG),
        (f'unknown field "{POS}.evaluationConfig"',),
    ),
    # -- TuningJob: labels
    Invalid(
        "tj-label-key-uppercase",
        TJ,
        with_value(f"{SPEC}.labels", {"Team": "ml"}),
        ("spec.labels", "every key must be"),
    ),
    Invalid(
        "tj-label-key-digit-first",
        TJ,
        with_value(f"{SPEC}.labels", {"1team": "ml"}),
        ("spec.labels", "every key must be"),
    ),
    Invalid(
        "tj-label-key-too-long",
        TJ,
        with_value(f"{SPEC}.labels", {"k" * 64: "v"}),
        ("spec.labels", "every key must be"),
    ),
    Invalid(
        "tj-label-value-uppercase",
        TJ,
        with_value(f"{SPEC}.labels", {"team": "ML"}),
        ("spec.labels.team",),
    ),
    Invalid(
        "tj-label-value-too-long",
        TJ,
        with_value(f"{SPEC}.labels", {"team": "v" * 64}),
        ("spec.labels.team",),
    ),
    Invalid(
        "tj-too-many-labels",
        TJ,
        with_value(f"{SPEC}.labels", {f"k{i}": "v" for i in range(61)}),
        ("spec.labels",),
    ),
    Invalid(
        "tj-label-reserved",
        TJ,
        with_value(f"{SPEC}.labels", {"vertexops-uid": "x"}),
        ("spec.labels", "reserved for the operator"),
    ),
    # -- TuningJob: unknown fields
    Invalid("tj-unknown-spec-field", TJ, with_value(f"{SPEC}.foo", "bar"), ('unknown field "spec.foo"',)),
    Invalid(
        "tj-unknown-nested-field",
        TJ,
        with_value(f"{HP}.batchSize", 8),
        (f'unknown field "{HP}.batchSize"',),
    ),
    # -- TunedModel
    Invalid("tm-id-uppercase", TM, with_value(f"{SPEC}.tunedModelId", "MyModel"), ("spec.tunedModelId",)),
    Invalid(
        "tm-id-trailing-dash", TM, with_value(f"{SPEC}.tunedModelId", "my-model-"), ("spec.tunedModelId",)
    ),
    Invalid("tm-id-too-long", TM, with_value(f"{SPEC}.tunedModelId", "m" * 41), ("spec.tunedModelId",)),
    Invalid(
        "tm-name-not-an-id",
        lambda name: TM("model.with.dots"),
        lambda manifest: None,
        ("spec.tunedModelId", "metadata.name"),
    ),
    Invalid("tm-display-name-41", TM, with_value(f"{SPEC}.displayName", "d" * 41), ("spec.displayName",)),
    Invalid("tm-temperature-high", TM, with_value(f"{SPEC}.temperature", 1.5), ("spec.temperature",)),
    Invalid("tm-top-p-negative", TM, with_value(f"{SPEC}.topP", -0.1), ("spec.topP",)),
    Invalid("tm-top-k-zero", TM, with_value(f"{SPEC}.topK", 0), ("spec.topK",)),
    Invalid(
        "tm-reader-not-number",
        TM,
        with_value(f"{SPEC}.readerProjectNumbers", ["my-project"]),
        ("spec.readerProjectNumbers[0]",),
    ),
    Invalid(
        "tm-base-model-no-prefix",
        TM,
        with_value(f"{SPEC}.baseModel", "gemini-1.5-flash-001-tuning"),
        ("spec.baseModel",),
    ),
    Invalid(
        "tm-both-sources",
        TM,
        with_value(f"{SPEC}.tunedModelSource", {"tunedModel": "tunedModels/earlier"}),
        ("spec", "exactly one of baseModel or tunedModelSource"),
    ),
    Invalid(
        "tm-no-source",
        TM,
        without(f"{SPEC}.baseModel"),
        ("spec", "exactly one of baseModel or tunedModelSource"),
    ),
    Invalid(
        "tm-source-bad-name",
        TM,
        apply_all(without(f"{SPEC}.baseModel"), with_value(f"{SPEC}.tunedModelSource", {"tunedModel": "x"})),
        ("spec.tunedModelSource.tunedModel",),
    ),
    Invalid(
        "tm-both-learning-rates",
        TM,
        with_value(f"{TASK}.hyperparameters.learningRateMultiplier", 1.0),
        (f"{TASK}.hyperparameters", "at most one of learningRate or learningRateMultiplier"),
    ),
    Invalid(
        "tm-learning-rate-zero",
        TM,
        with_value(f"{TASK}.hyperparameters.learningRate", 0),
        (f"{TASK}.hyperparameters.learningRate",),
    ),
    Invalid(
        "tm-batch-size-zero",
        TM,
        with_value(f"{TASK}.hyperparameters.batchSize", 0),
        (f"{TASK}.hyperparameters.batchSize",),
    ),
    Invalid(
        "tm-both-training-sources",
        TM,
        with_value(f"{TASK}.trainingData.configMapRef", {"name": "data", "key": "train.jsonl"}),
        (f"{TASK}.trainingData", "exactly one of examples or configMapRef"),
    ),
    Invalid(
        "tm-no-training-data",
        TM,
        with_value(f"{TASK}.trainingData", {}),
        (f"{TASK}.trainingData", "exactly one of examples or configMapRef"),
    ),
    Invalid("tm-tuning-task-missing", TM, without(f"{SPEC}.tuningTask"), ("spec.tuningTask",)),
    Invalid(
        "tm-example-without-output",
        TM,
        with_value(f"{TASK}.trainingData.examples", [{"textInput": "1"}]),
        (f"{TASK}.trainingData.examples[0].output",),
    ),
    Invalid(
        "tm-configmap-key-bad",
        TM,
        with_value(f"{TASK}.trainingData", {"configMapRef": {"name": "data", "key": "a/b"}}),
        (f"{TASK}.trainingData.configMapRef.key",),
    ),
    Invalid(
        "tm-secret-ref-no-key",
        TM,
        with_value(f"{SPEC}.apiKeySecretRef", {"name": "gemini-key"}),
        ("spec.apiKeySecretRef.key",),
    ),
    Invalid(
        "tm-deletion-policy", TM, with_value(f"{SPEC}.deletionPolicy", "Cancel"), ("spec.deletionPolicy",)
    ),
    Invalid(
        "tm-unknown-field",
        TM,
        with_value(f"{SPEC}.tuningTask.learningRate", 0.1),
        (f'unknown field "{TASK}.learningRate"',),
    ),
)


def _add_label(manifest: Manifest) -> None:
    manifest["spec"]["labels"]["owner"] = "someone"


IMMUTABLE: tuple[Immutable, ...] = (
    Immutable(
        "imm-tj-base-model", TJ, with_value(f"{SPEC}.baseModel", "gemini-2.5-pro"), ("spec.baseModel",)
    ),
    Immutable(
        "imm-tj-job-name-added",
        TJ,
        with_value(f"{SPEC}.jobName", "projects/acme-ml-prod/locations/us-central1/tuningJobs/12"),
        ("spec.jobName", "cannot be added or removed"),
    ),
    Immutable(
        "imm-tj-epochs",
        TJ,
        with_value(f"{HP}.epochCount", 4),
        (f"{HP}.epochCount", "immutable", "create a new TuningJob"),
    ),
    Immutable(
        "imm-tj-training-uri",
        TJ,
        with_value(f"{STS}.trainingDatasetUri", "gs://acme-bucket/other.jsonl"),
        (f"{STS}.trainingDatasetUri", "immutable"),
    ),
    Immutable(
        "imm-tj-add-validation",
        TJ,
        with_value(f"{STS}.validationDatasetUri", "gs://acme-bucket/validation.jsonl"),
        (f"{STS}.validationDatasetUri", "cannot be added or removed"),
        prepare=without(f"{STS}.validationDatasetUri"),
    ),
    Immutable(
        "imm-tj-remove-hyperparameters",
        TJ,
        without(f"{HP}"),
        (f"{HP}", "cannot be added or removed"),
    ),
    Immutable(
        "imm-tj-remove-adapter",
        TJ,
        without(f"{HP}.adapterSize"),
        (f"{HP}.adapterSize", "cannot be added or removed"),
    ),
    Immutable("imm-tj-add-label", TJ, _add_label, ("spec.labels", "immutable")),
    Immutable("imm-tj-remove-labels", TJ, without(f"{SPEC}.labels"), ("spec.labels", "cannot be added")),
    Immutable(
        "imm-tj-add-project",
        TJ,
        with_value(f"{SPEC}.projectID", "acme-ml-prod"),
        ("spec.projectID", "cannot be added or removed"),
        prepare=without(f"{SPEC}.projectID"),
    ),
    Immutable("imm-tj-location", TJ, with_value(f"{SPEC}.location", "europe-west4"), ("spec.location",)),
    Immutable(
        "imm-tj-kms-key",
        TJ,
        with_value(
            f"{SPEC}.encryptionSpec.kmsKeyName",
            "projects/acme-ml-prod/locations/us-central1/keyRings/r/cryptoKeys/other",
        ),
        ("spec.encryptionSpec.kmsKeyName",),
    ),
    Immutable(
        "imm-tj-service-account",
        TJ,
        without(f"{SPEC}.serviceAccount"),
        ("spec.serviceAccount", "cannot be added or removed"),
    ),
    Immutable(
        "imm-tj-display-name",
        TJ,
        with_value(f"{SPEC}.tunedModelDisplayName", "Renamed"),
        ("spec.tunedModelDisplayName",),
    ),
    Immutable(
        "imm-tj-supervised-to-preference",
        TJ,
        apply_all(without(STS), with_value(POS, PREFERENCE_SPEC)),
        ("spec.preferenceOptimizationSpec", "cannot be added or removed"),
    ),
    Immutable("imm-tj-preference-beta", TJP, with_value(f"{PHP}.beta", 0.2), (f"{PHP}.beta", "immutable")),
    Immutable(
        "imm-tj-preference-training-uri",
        TJP,
        with_value(f"{POS}.trainingDatasetUri", "gs://acme-bucket/other.jsonl"),
        (f"{POS}.trainingDatasetUri", "immutable"),
    ),
    Immutable(
        "imm-tj-training-uri-to-dataset",
        TJ,
        with_value(f"{STS}.trainingDatasetUri", "projects/acme-ml-prod/locations/us-central1/datasets/123"),
        (f"{STS}.trainingDatasetUri", "immutable"),
    ),
    Immutable(
        "imm-tj-eval-metrics",
        TJE,
        with_value(f"{EVAL}.metrics", [{"bleuSpec": {}}]),
        (f"{EVAL}.metrics", "immutable"),
    ),
    Immutable(
        "imm-tj-eval-added",
        TJ,
        with_value(f"{STS}.evaluationConfig", EVALUATION_CONFIG),
        (f"{STS}.evaluationConfig", "cannot be added or removed"),
    ),
    Immutable(
        "imm-tm-base-model",
        TM,
        with_value(f"{SPEC}.baseModel", "models/gemini-1.0-pro-001"),
        ("spec.baseModel",),
    ),
    Immutable(
        "imm-tm-examples",
        TM,
        with_value(f"{TASK}.trainingData.examples", [{"textInput": "5", "output": "6"}]),
        (f"{TASK}.trainingData.examples", "immutable", "create a new TunedModel"),
    ),
    Immutable(
        "imm-tm-epochs",
        TM,
        with_value(f"{TASK}.hyperparameters.epochCount", 9),
        (f"{TASK}.hyperparameters.epochCount",),
    ),
    Immutable(
        "imm-tm-add-id",
        TM,
        with_value(f"{SPEC}.tunedModelId", "imm-tm-add-id"),
        ("spec.tunedModelId", "cannot be added or removed"),
    ),
)


def _tj_mutable_change(manifest: Manifest) -> None:
    spec = manifest["spec"]
    spec["deletionPolicy"] = "Orphan"
    spec["testPrompts"] = [{"prompt": "Something else"}]
    spec["publish"] = {"configMapName": "renamed-model"}


def _tm_mutable_change(manifest: Manifest) -> None:
    spec = manifest["spec"]
    spec.update(
        displayName="Renamed",
        description="Now described differently.",
        temperature=0.1,
        topP=0.5,
        topK=5,
        readerProjectNumbers=[111, 222],
        apiKeySecretRef={"name": "other-key", "key": "token"},
        deletionPolicy="Orphan",
        testPrompts=[{"prompt": "4"}],
    )


# Changes the API server must accept: the operator's own settings, and what the Gemini API can patch.
MUTABLE: tuple[tuple[str, Callable[[str], Manifest], Callable[[Manifest], None]], ...] = (
    ("mut-tj", TJ, _tj_mutable_change),
    ("mut-tm", TM, _tm_mutable_change),
)
