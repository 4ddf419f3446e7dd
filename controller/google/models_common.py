"""Pydantic building blocks shared by the Vertex AI and Gemini API models.

Google speaks the proto3 JSON mapping: camelCase keys, int64 as JSON strings, RFC 3339 times, enum names,
default values left out. `ApiModel` accepts that (and snake_case, which some samples send), ignores keys it
does not know (preview fields appear without notice), and `to_api()` writes it back.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, ValidationError
from pydantic.alias_generators import to_camel

from controller.google.errors import MalformedResponseError

#: An int64 proto field: parsed from a JSON string or number, written back as a string.
Int64 = Annotated[int, PlainSerializer(str, return_type=str, when_used="json")]


class ApiModel(BaseModel):
    """Base of every request and response model."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=False,
    )

    def to_api(self) -> dict[str, Any]:
        """The JSON body for a request: camelCase, unset fields left out, int64 as strings."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class RpcStatus(ApiModel):
    """google.rpc.Status inside a resource (`TuningJob.error`, `Operation.error`): `code` is an rpc code."""

    code: int = 0
    message: str = ""
    details: list[dict[str, Any]] = []


class Part(ApiModel):
    """One part of a message. Only text is modelled; other part kinds are kept out of the way."""

    text: str | None = None
    thought: bool | None = None


class Content(ApiModel):
    role: str | None = None
    parts: list[Part] = []


class Candidate(ApiModel):
    index: int = 0
    content: Content | None = None
    finish_reason: str | None = None
    avg_logprobs: float | None = None


class UsageMetadata(ApiModel):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    cached_content_token_count: int = 0
    total_token_count: int = 0
    traffic_type: str | None = None


class PromptFeedback(ApiModel):
    block_reason: str | None = None


class GenerateContentResponse(ApiModel):
    """The essentials of a generateContent answer (or of one streamed chunk)."""

    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    create_time: datetime | None = None

    @property
    def text(self) -> str:
        """The first candidate's text parts joined (thoughts left out); "" when there is none."""
        if not self.candidates or self.candidates[0].content is None:
            return ""
        return "".join(p.text or "" for p in self.candidates[0].content.parts if not p.thought)


def user_contents(contents: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A prompt given as plain text becomes one user turn; a list of turns is passed through."""
    if isinstance(contents, str):
        return [{"role": "user", "parts": [{"text": contents}]}]
    return list(contents)


M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: Any, method: str, resource: str = "", *, api: str) -> M:
    """Validate a response body, turning a shape we cannot use into `MalformedResponseError`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise MalformedResponseError(
            f"malformed response from {method}" + (f" on {resource}" if resource else "") + f": {problems}",
            http_status=200,
            status="UNKNOWN",
            api=api,
            method=method,
            resource=resource,
        ) from None


def deflate(model: ApiModel) -> bytes:
    """The model as deflated API JSON (zlib level 1), for state kept per job for hours.

    A parsed model is several times its JSON in Python objects (a listed TuningJob about 5.5 KB for 1.1 KB
    of JSON); an operator following 10,000 jobs keeps the bytes and parses on the rare read. Equal models
    give equal bytes, so the bytes also tell whether a value changed.
    """
    return zlib.compress(model.model_dump_json(by_alias=True, exclude_none=True).encode(), 1)


def inflate(model: type[M], data: bytes) -> M:
    """The model `deflate` kept."""
    return model.model_validate_json(zlib.decompress(data))
