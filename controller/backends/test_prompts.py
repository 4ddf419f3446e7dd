"""Sending a resource's test prompts to its tuned model, the same way for every kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from controller.api.base import format_timestamp
from controller.api.common import STATUS_ANSWER_CHARS, STATUS_PROMPT_CHARS, clip, prompt_digest
from controller.google.errors import GoogleAPIError
from controller.google.models_common import GenerateContentResponse

JsonObject = dict[str, Any]
Generate = Callable[[str, Mapping[str, Any] | None], GenerateContentResponse]


def answer_prompts(
    prompts: Sequence[JsonObject], generate: Generate, now: Callable[[], datetime]
) -> list[JsonObject]:
    """One result per prompt (as spec.testPrompts holds them): the answer's text, or why there is none.

    A failing prompt does not stop the others: each result stands on its own in status.
    """
    results: list[JsonObject] = []
    for prompt in prompts:
        result: JsonObject = {
            "prompt": clip(prompt["prompt"], STATUS_PROMPT_CHARS),
            "promptDigest": prompt_digest(prompt),
        }
        try:
            answer = generate(prompt["prompt"], prompt.get("generationConfig"))
            result["responseText"] = clip(answer.text, STATUS_ANSWER_CHARS)
            if answer.candidates and answer.candidates[0].finish_reason:
                result["finishReason"] = answer.candidates[0].finish_reason
        except GoogleAPIError as err:
            result["error"] = clip(err.message, STATUS_ANSWER_CHARS)
        result["time"] = format_timestamp(now())
        results.append(result)
    return results
