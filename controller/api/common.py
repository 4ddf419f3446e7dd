"""Parts that both resources share: test prompts and their results, object references, Google errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from controller.api.base import ApiModel, StatusModel, Timestamp

# A Kubernetes object name (DNS subdomain), as ConfigMaps and Secrets use.
ObjectName = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    ),
]

# A key inside a ConfigMap's or Secret's data.
DataKey = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")]

MAX_TEST_PROMPTS = 20
MAX_PROMPT_LENGTH = 8192
# What status keeps of each prompt and answer: enough to read, small enough that 20 results can never push the
# object past etcd's size limit, whatever the spec holds.
STATUS_PROMPT_CHARS = 256
STATUS_ANSWER_CHARS = 4096


class GenerationConfig(ApiModel):
    """Sampling settings for a test prompt; anything left out takes the model's default."""

    temperature: float | None = Field(
        default=None, ge=0, le=2, description="Sampling temperature, 0 to 2; lower is more deterministic."
    )
    top_p: float | None = Field(
        default=None, ge=0, le=1, description="Nucleus sampling: the cumulative probability cut-off, 0 to 1."
    )
    top_k: int | None = Field(
        default=None, ge=1, description="Sample only from the K most likely tokens (at least 1)."
    )
    max_output_tokens: int | None = Field(
        default=None, ge=1, description="Upper bound on the tokens generated for the response."
    )


class TestPrompt(ApiModel):
    """A prompt the operator sends to the tuned model once it is ready, as a smoke test.

    The answer lands in status.testPromptResults; prompts can be changed at any time and are re-run.
    """

    __test__ = False  # not a pytest test class, whatever its name

    prompt: str = Field(
        min_length=1,
        max_length=MAX_PROMPT_LENGTH,
        description="Text sent as a single user turn to the tuned model.",
    )
    generation_config: GenerationConfig | None = Field(
        default=None, description="Sampling settings for this prompt; the model's defaults when absent."
    )


def test_prompts_field() -> Any:
    """The `testPrompts` field, alike on both kinds."""
    return Field(
        default=None,
        max_length=MAX_TEST_PROMPTS,
        description=(
            "Prompts sent to the tuned model after it becomes ready, to show that it answers; results go to "
            f"status.testPromptResults. At most {MAX_TEST_PROMPTS}. May be changed at any time."
        ),
    )


class TestPromptResult(StatusModel):
    """What the tuned model answered to one test prompt."""

    __test__ = False

    prompt: str = Field(
        description=f"The prompt that was sent (its first {STATUS_PROMPT_CHARS} characters, then '…')."
    )
    prompt_digest: str | None = Field(
        default=None,
        description="Digest of the whole test prompt and its generationConfig; a change re-runs the prompt.",
    )
    response_text: str | None = Field(
        default=None,
        description=f"The first candidate's answer (its first {STATUS_ANSWER_CHARS} characters, then '…').",
    )
    finish_reason: str | None = Field(
        default=None,
        description="Why generation stopped, as Google names it (STOP, MAX_TOKENS, SAFETY, ...).",
    )
    error: str | None = Field(
        default=None, description="Why the prompt could not be answered, when it failed."
    )
    time: Timestamp | None = Field(default=None, description="When the answer (or the error) was received.")


class ConfigMapKeyRef(ApiModel):
    """A key of a ConfigMap in the resource's own namespace."""

    name: ObjectName = Field(description="Name of the ConfigMap, in the same namespace as this resource.")
    key: DataKey = Field(description="Key within the ConfigMap's data.")


class SecretKeyRef(ApiModel):
    """A key of a Secret in the resource's own namespace."""

    name: ObjectName = Field(description="Name of the Secret, in the same namespace as this resource.")
    key: DataKey = Field(description="Key within the Secret's data.")


class GoogleError(StatusModel):
    """An error reported by Google for the job or model (google.rpc.Status)."""

    code: int | None = Field(
        default=None, description="google.rpc.Code number (for example 1 CANCELLED, 3 INVALID_ARGUMENT)."
    )
    message: str | None = Field(default=None, description="Google's error message.")


def prompt_digest(prompt: Mapping[str, Any]) -> str:
    """A short digest of one spec.testPrompts item (text and generationConfig), independent of key order."""
    canonical = json.dumps(prompt, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked with '…' when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
