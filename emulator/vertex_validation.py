"""The checks Vertex AI makes on a `tuningJobs.create` body, with its 400 INVALID_ARGUMENT answers.

The adapter-size table and the model list follow the public documentation of supervised tuning; a model
that is not listed here is refused, as Vertex refuses models it cannot tune.
"""

from __future__ import annotations

import re
from typing import Any

from emulator.apierror import ApiError, invalid_argument

ALL_ADAPTER_SIZES = (
    "ADAPTER_SIZE_UNSPECIFIED",
    "ADAPTER_SIZE_ONE",
    "ADAPTER_SIZE_TWO",
    "ADAPTER_SIZE_FOUR",
    "ADAPTER_SIZE_EIGHT",
    "ADAPTER_SIZE_SIXTEEN",
    "ADAPTER_SIZE_THIRTY_TWO",
)
_SMALL = ("ADAPTER_SIZE_ONE", "ADAPTER_SIZE_FOUR")
_FLASH_15 = ("ADAPTER_SIZE_ONE", "ADAPTER_SIZE_FOUR", "ADAPTER_SIZE_EIGHT", "ADAPTER_SIZE_SIXTEEN")
_RECENT = (
    "ADAPTER_SIZE_ONE",
    "ADAPTER_SIZE_TWO",
    "ADAPTER_SIZE_FOUR",
    "ADAPTER_SIZE_EIGHT",
    "ADAPTER_SIZE_SIXTEEN",
)

#: base model -> adapter sizes it accepts (ADAPTER_SIZE_UNSPECIFIED is always accepted).
SUPPORTED_BASE_MODELS: dict[str, tuple[str, ...]] = {
    "gemini-1.0-pro-002": _SMALL,
    "gemini-1.5-pro-002": _SMALL,
    "gemini-1.5-flash-002": _FLASH_15,
    "gemini-2.0-flash-001": _RECENT,
    "gemini-2.0-flash-lite-001": _RECENT,
    "gemini-2.5-pro": _RECENT,
    "gemini-2.5-flash": _RECENT,
    "gemini-2.5-flash-lite": _RECENT,
}

_LABEL_KEY_RE = re.compile(r"^[\w-]{1,63}$", re.UNICODE)
_LABEL_VALUE_RE = re.compile(r"^[\w-]{0,63}$", re.UNICODE)
_PREFIX = "projects/"


def base_model_id(base_model: str) -> str:
    """`publishers/google/models/gemini-2.5-flash` and `gemini-2.5-flash` name the same model."""
    return base_model.rsplit("/", 1)[-1]


# PreTunedModel.tunedModelName (discovery document): `projects/{project}/locations/{location}/models/{model}`,
# optionally `@{version_id}` or `@{alias}`.
PRE_TUNED_MODEL_NAME_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/models/[^/@]+(@[A-Za-z0-9_-]+)?$")


def _check_pre_tuned_model(body: dict[str, Any]) -> None:
    """`baseModel` and `preTunedModel` are the oneof `source_model`: the proto JSON parser refuses both; the
    tuned model must be a Model resource name. Whether it exists is checked against the store."""
    if body.get("baseModel"):
        raise invalid_argument(
            "Invalid JSON payload received. Failed to parse input: oneof field 'source_model' is already "
            "set. Cannot set 'preTunedModel'.",
            "tuning_job.pre_tuned_model",
        )
    pre = body["preTunedModel"]
    if not isinstance(pre, dict):
        raise invalid_argument("pre_tuned_model must be an object.", "tuning_job.pre_tuned_model")
    name = pre.get("tunedModelName")
    if not isinstance(name, str) or not PRE_TUNED_MODEL_NAME_RE.match(name):
        raise invalid_argument(
            f"Invalid tuned model name {name!r}: expected "
            "projects/{project}/locations/{location}/models/{model}[@{version_id or alias}].",
            "tuning_job.pre_tuned_model.tuned_model_name",
        )
    checkpoint = pre.get("checkpointId")
    if checkpoint is not None and not isinstance(checkpoint, str):
        raise invalid_argument("checkpoint_id must be a string.", "tuning_job.pre_tuned_model.checkpoint_id")


def validate_create(raw: Any) -> dict[str, Any]:
    """The normalised job input, or an `ApiError` naming the field that is wrong."""
    if not isinstance(raw, dict):
        raise invalid_argument("Invalid JSON payload received. The request body must be a TuningJob object.")
    body: dict[str, Any] = dict(_camel_keys(raw))
    base_model = body.get("baseModel")
    if not base_model and not body.get("preTunedModel"):
        raise invalid_argument("base_model or pre_tuned_model must be set.", "tuning_job.base_model")
    if body.get("preTunedModel"):
        _check_pre_tuned_model(body)
    if base_model and (
        not isinstance(base_model, str) or base_model_id(base_model) not in SUPPORTED_BASE_MODELS
    ):
        raise invalid_argument(
            f"Base model {base_model} is not supported for supervised tuning.", "tuning_job.base_model"
        )
    key = tuning_spec_key(body)
    field = _SPEC_FIELDS[key]
    spec = body[key]
    if not isinstance(spec, dict):
        raise invalid_argument(f"{field} must be an object.", f"tuning_job.{field}")
    training = spec.get("trainingDatasetUri")
    if not training:
        raise invalid_argument(
            "Training dataset uri is required.", f"tuning_job.{field}.training_dataset_uri"
        )
    check = _check_supervised_dataset if key == "supervisedTuningSpec" else _check_gcs
    check(training, "training_dataset_uri", field)
    if spec.get("validationDatasetUri"):
        check(spec["validationDatasetUri"], "validation_dataset_uri", field)
    hyper = spec.get("hyperParameters") or {}
    if not isinstance(hyper, dict):
        raise invalid_argument("hyper_parameters must be an object.", f"tuning_job.{field}")
    _check_hyper_parameters(hyper, base_model_id(base_model) if isinstance(base_model, str) else None, field)
    if key == "preferenceOptimizationSpec":
        _check_beta(hyper.get("beta"))
    elif "beta" in hyper:
        # SupervisedHyperParameters has no `beta`: the proto JSON parser refuses an unknown field.
        raise invalid_argument(
            'Invalid JSON payload received. Unknown name "beta" at '
            "'tuning_job.supervised_tuning_spec.hyper_parameters': Cannot find field.",
            "tuning_job.supervised_tuning_spec.hyper_parameters",
        )
    if "evaluationConfig" in spec:
        if key != "supervisedTuningSpec":
            # PreferenceOptimizationSpec has no evaluationConfig (v1 discovery): an unknown field.
            raise invalid_argument(
                'Invalid JSON payload received. Unknown name "evaluation_config" at '
                "'tuning_job.preference_optimization_spec': Cannot find field.",
                "tuning_job.preference_optimization_spec",
            )
        _check_evaluation_config(spec["evaluationConfig"])
    display = body.get("tunedModelDisplayName")
    if display is not None and (not isinstance(display, str) or len(display) > 128):
        raise invalid_argument(
            "tuned_model_display_name must be at most 128 characters.", "tuning_job.tuned_model_display_name"
        )
    _check_labels(body.get("labels"))
    return body


# The one-of `tuning_spec` of TuningJob in v1 (REST discovery aiplatform.v1.json, revision 20261106):
# supervisedTuningSpec or preferenceOptimizationSpec (training/validationDatasetUri, hyperParameters
# {epochCount int64, learningRateMultiplier double, adapterSize, beta double}, exportLastCheckpointOnly).
_SPEC_FIELDS = {
    "supervisedTuningSpec": "supervised_tuning_spec",
    "preferenceOptimizationSpec": "preference_optimization_spec",
}


def tuning_spec_key(body: dict[str, Any]) -> str:
    """Which member of the `tuning_spec` one-of a (camelCase) TuningJob sets; exactly one must be set."""
    present = [key for key in _SPEC_FIELDS if body.get(key) is not None]
    if not present:
        raise invalid_argument("supervised_tuning_spec is required.", "tuning_job.supervised_tuning_spec")
    if len(present) > 1:
        # The proto JSON parser's answer to a second member of a one-of (wording unconfirmed).
        raise invalid_argument(
            "Invalid JSON payload received. Oneof field 'tuning_spec' is already set. "
            f"Cannot set '{present[1]}'",
            f"tuning_job.{_SPEC_FIELDS[present[1]]}",
        )
    return present[0]


def _check_gcs(uri: object, field: str, spec_field: str = "supervised_tuning_spec") -> None:
    if not isinstance(uri, str) or not uri.startswith("gs://") or len(uri) <= len("gs://"):
        raise invalid_argument(
            f"{field} must be a Cloud Storage URI that starts with gs://, got {uri!r}.",
            f"tuning_job.{spec_field}.{field}",
        )


_EVALUATION = "tuning_job.supervised_tuning_spec.evaluation_config"


def _check_evaluation_config(config: object) -> None:
    """EvaluationConfig (v1 discovery, revision 20261106): `metrics` and `outputConfig` are Required; the
    output goes to `outputConfig.gcsDestination.outputUriPrefix`, a Cloud Storage folder."""
    if not isinstance(config, dict):
        raise invalid_argument("evaluation_config must be an object.", _EVALUATION)
    metrics = config.get("metrics")
    if not isinstance(metrics, list) or not metrics:
        raise invalid_argument("At least one metric is required.", f"{_EVALUATION}.metrics")
    prefix = ((config.get("outputConfig") or {}).get("gcsDestination") or {}).get("outputUriPrefix")
    if not isinstance(prefix, str) or not prefix.startswith("gs://") or len(prefix) <= len("gs://"):
        raise invalid_argument(
            f"output_uri_prefix must be a Cloud Storage URI that starts with gs://, got {prefix!r}.",
            f"{_EVALUATION}.output_config.gcs_destination.output_uri_prefix",
        )


# SupervisedTuningSpec's dataset URIs (v1 discovery, revision 20261106): "either a Cloud Storage path to a
# JSONL file or ... the resource name of a Vertex Multimodal Dataset". PreferenceOptimizationSpec's are
# Cloud Storage JSONL only.
_DATASET_NAME_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/datasets/[0-9]+$")


def _check_supervised_dataset(uri: object, field: str, spec_field: str = "supervised_tuning_spec") -> None:
    if isinstance(uri, str) and _DATASET_NAME_RE.match(uri):
        return
    if isinstance(uri, str) and uri.startswith("gs://") and len(uri) > len("gs://"):
        return
    raise invalid_argument(
        f"{field} must be a Cloud Storage URI that starts with gs:// or the resource name of a Vertex "
        f"Multimodal Dataset (projects/*/locations/*/datasets/*), got {uri!r}.",
        f"tuning_job.{spec_field}.{field}",
    )


def _check_beta(beta: object) -> None:
    if beta is not None and (not isinstance(beta, int | float) or isinstance(beta, bool) or beta < 0):
        raise invalid_argument(
            f"beta must be a non-negative number, got {beta!r}.",
            "tuning_job.preference_optimization_spec.hyper_parameters.beta",
        )


def _check_hyper_parameters(
    hyper: dict[str, Any], model: str | None, spec_field: str = "supervised_tuning_spec"
) -> None:
    epochs = hyper.get("epochCount")
    if epochs is not None:
        try:
            count = int(epochs)
        except (TypeError, ValueError):
            count = 0
        if count < 1:
            raise invalid_argument(
                f"epoch_count must be a positive integer, got {epochs!r}.",
                f"tuning_job.{spec_field}.hyper_parameters.epoch_count",
            )
    lrm = hyper.get("learningRateMultiplier")
    if lrm is not None and (not isinstance(lrm, int | float) or lrm <= 0):
        raise invalid_argument(
            f"learning_rate_multiplier must be a positive number, got {lrm!r}.",
            f"tuning_job.{spec_field}.hyper_parameters.learning_rate_multiplier",
        )
    size = hyper.get("adapterSize")
    if size is None:
        return
    if size not in ALL_ADAPTER_SIZES:
        # The proto JSON parser's own wording for an unknown enum name.
        raise ApiError(
            "INVALID_ARGUMENT",
            f"Invalid value at 'tuning_job.{spec_field}.hyper_parameters.adapter_size' "
            "(type.googleapis.com/google.cloud.aiplatform.v1.SupervisedHyperParameters.AdapterSize), "
            f'"{size}"',
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [
                        {
                            "field": f"tuning_job.{spec_field}.hyper_parameters.adapter_size",
                            "description": f'Invalid value "{size}"',
                        }
                    ],
                }
            ],
        )
    if size != "ADAPTER_SIZE_UNSPECIFIED" and model is not None and size not in SUPPORTED_BASE_MODELS[model]:
        raise ApiError("INVALID_ARGUMENT", "The adapter size is not supported for this base model.")


def _check_labels(labels: object) -> None:
    if labels is None:
        return
    if not isinstance(labels, dict):
        raise invalid_argument("labels must be a map of strings.", "tuning_job.labels")
    if len(labels) > 64:
        raise invalid_argument(f"At most 64 labels are allowed, got {len(labels)}.", "tuning_job.labels")
    for key, value in labels.items():
        if not (_LABEL_KEY_RE.match(key) and key == key.lower() and key[0].isalpha()):
            raise invalid_argument(
                f"Label key '{key}' is invalid: keys must start with a lowercase letter and contain only "
                "lowercase letters, numeric characters, underscores and dashes (at most 63 characters).",
                "tuning_job.labels",
            )
        if not (isinstance(value, str) and _LABEL_VALUE_RE.match(value) and value == value.lower()):
            raise invalid_argument(
                f"Label value '{value}' of key '{key}' is invalid: values may contain only lowercase "
                "letters, numeric characters, underscores and dashes (at most 63 characters).",
                "tuning_job.labels",
            )


def _camel_keys(value: Any) -> Any:
    """Requests may use snake_case (the proto JSON parser accepts both); store camelCase."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            # labels are user data: their keys stay as written.
            out[_camel(key)] = item if key == "labels" else _camel_keys(item)
        return out
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    return value


def _camel(name: str) -> str:
    if "_" not in name:
        return name
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)
