"""The vertexops custom resources as pydantic models: the one source of truth for their schema.

`TuningJob` runs a Vertex AI supervised tuning job; `TunedModel` tunes a model through the Gemini API. Both
live in the API group `tuning.vertexops.dev`, version `v1alpha1`.
"""

from controller.api.base import OneOf, Timestamp, format_timestamp
from controller.api.common import (
    ConfigMapKeyRef,
    GenerationConfig,
    GoogleError,
    SecretKeyRef,
    TestPrompt,
    TestPromptResult,
)
from controller.api.conditions import (
    REASONS,
    Condition,
    ConditionType,
    Reason,
    find_condition,
    is_condition_true,
    set_condition,
)
from controller.api.resource import API_VERSION, GROUP, VERSION, ObjectMeta, ResourceInfo
from controller.api.tunedmodel import (
    TUNED_MODEL,
    TunedModel,
    TunedModelSpec,
    TunedModelState,
    TunedModelStatus,
)
from controller.api.tuningjob import (
    TUNING_JOB,
    AdapterSize,
    JobState,
    TuningJob,
    TuningJobSpec,
    TuningJobStatus,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "REASONS",
    "TUNED_MODEL",
    "TUNING_JOB",
    "VERSION",
    "AdapterSize",
    "Condition",
    "ConditionType",
    "ConfigMapKeyRef",
    "GenerationConfig",
    "GoogleError",
    "JobState",
    "ObjectMeta",
    "OneOf",
    "Reason",
    "ResourceInfo",
    "SecretKeyRef",
    "TestPrompt",
    "TestPromptResult",
    "Timestamp",
    "TunedModel",
    "TunedModelSpec",
    "TunedModelState",
    "TunedModelStatus",
    "TuningJob",
    "TuningJobSpec",
    "TuningJobStatus",
    "find_condition",
    "format_timestamp",
    "is_condition_true",
    "set_condition",
]
