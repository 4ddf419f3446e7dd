"""Deterministic answers for generateContent on tuned endpoints and tuned models.

The answer is derived from the prompt (its words reversed, tagged with the model), so a test can predict it
exactly, and `maxOutputTokens` cuts it with `finishReason: MAX_TOKENS` as a real model would. Streamed
answers leave one chunk at a time with a pause between chunks, as a real model's do, and every generation
request is kept in a `GenerationLog` (the turns it carried, when each chunk left), so a test can check that
a client sent the whole conversation and printed the first chunk before the last one was sent.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from emulator.apierror import invalid_argument
from emulator.clock import rfc3339

STREAM_CHUNK_WORDS = 3


def prompt_text(body: Any) -> str:
    """The text of the last user turn, validating the request as the APIs do."""
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received.", "contents")
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        raise invalid_argument("Unable to submit request because it has an empty contents field.", "contents")
    texts: list[str] = []
    for turn in contents:
        parts = turn.get("parts") if isinstance(turn, dict) else None
        if isinstance(parts, dict):
            parts = [parts]
        if not isinstance(parts, list) or not parts:
            raise invalid_argument(
                "Unable to submit request because at least one contents field has no parts.", "contents.parts"
            )
        role = str(turn.get("role") or "user").lower()
        if role == "user":
            texts = [str(p.get("text", "")) for p in parts if isinstance(p, dict)]
    return " ".join(t for t in texts if t)


def _max_tokens(body: dict[str, Any]) -> int | None:
    config = body.get("generationConfig") or body.get("generation_config") or {}
    raw = config.get("maxOutputTokens", config.get("max_output_tokens")) if isinstance(config, dict) else None
    if raw is None:
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise invalid_argument(
            f"max_output_tokens must be an integer, got {raw!r}.", "generation_config"
        ) from None
    if value < 1:
        raise invalid_argument("max_output_tokens must be positive.", "generation_config.max_output_tokens")
    return value


def answer_words(model_label: str, prompt: str) -> list[str]:
    words = prompt.split()
    return [f"[{model_label}]", *reversed(words)] if words else [f"[{model_label}]", "(empty", "prompt)"]


def _response_id(model_label: str, prompt: str) -> str:
    return hashlib.sha256(f"{model_label}\n{prompt}".encode()).hexdigest()[:22]


def generate(body: Any, model_label: str, model_version: str, now: float, *, vertex: bool) -> dict[str, Any]:
    """One complete GenerateContentResponse."""
    chunks = list(stream(body, model_label, model_version, now, vertex=vertex, chunk_words=10**9))
    return chunks[0]


def stream(
    body: Any,
    model_label: str,
    model_version: str,
    now: float,
    *,
    vertex: bool,
    chunk_words: int = STREAM_CHUNK_WORDS,
) -> Iterator[dict[str, Any]]:
    """The answer as a series of GenerateContentResponse chunks; the last carries finishReason and usage."""
    prompt = prompt_text(body)
    limit = _max_tokens(body)
    words = answer_words(model_label, prompt)
    finish = "STOP"
    if limit is not None and len(words) > limit:
        words, finish = words[:limit], "MAX_TOKENS"
    prompt_tokens = max(1, len(prompt.split()))
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": len(words),
        "totalTokenCount": prompt_tokens + len(words),
    }
    if vertex:
        usage["trafficType"] = "ON_DEMAND"
    response_id = _response_id(model_label, prompt)
    groups = [words[i : i + chunk_words] for i in range(0, len(words), chunk_words)] or [[]]
    for index, group in enumerate(groups):
        last = index == len(groups) - 1
        text = " ".join(group) + ("" if last else " ")
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}}
        if last:
            candidate["finishReason"] = finish
        if vertex:
            candidate["avgLogprobs"] = -0.05
        chunk: dict[str, Any] = {"candidates": [candidate], "modelVersion": model_version}
        if last:
            chunk["usageMetadata"] = usage
        else:
            chunk["usageMetadata"] = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}
        if vertex:
            chunk["createTime"] = rfc3339(now)
        chunk["responseId"] = response_id
        yield chunk


@dataclass
class GenerationRecord:
    """One generateContent or streamGenerateContent request and, when streamed, when each chunk left."""

    method: str
    model: str
    body: dict[str, Any]
    chunk_times: list[float] = field(default_factory=list)
    chunk_texts: list[str] = field(default_factory=list)

    @property
    def contents(self) -> list[dict[str, Any]]:
        contents = self.body.get("contents")
        return [c for c in contents if isinstance(c, dict)] if isinstance(contents, list) else []

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "model": self.model,
            "body": self.body,
            "chunkTimes": list(self.chunk_times),
            "chunkTexts": list(self.chunk_texts),
        }


class GenerationLog:
    """The generation requests served so far (bounded), for tests to read back."""

    def __init__(self, limit: int = 1000) -> None:
        self._records: list[GenerationRecord] = []
        self._limit = limit
        self._lock = threading.Lock()

    def add(self, method: str, model: str, body: Any) -> GenerationRecord:
        record = GenerationRecord(method, model, copy.deepcopy(body) if isinstance(body, dict) else {})
        with self._lock:
            self._records.append(record)
            del self._records[: -self._limit]
        return record

    def records(self, method: str | None = None) -> list[GenerationRecord]:
        with self._lock:
            return [r for r in self._records if method is None or r.method == method]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


def paced(
    chunks: list[dict[str, Any]],
    record: GenerationRecord,
    delay_seconds: float,
    encode: Callable[[dict[str, Any]], bytes],
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """The encoded chunks, one at a time with `delay_seconds` between them, noting when each one left.

    The server writes and flushes each chunk before asking for the next, so a pause here is a pause on the
    wire.
    """
    for index, chunk in enumerate(chunks):
        if index and delay_seconds > 0:
            sleep(delay_seconds)
        record.chunk_times.append(time.time())
        record.chunk_texts.append(_chunk_text(chunk))
        yield encode(chunk)


def _chunk_text(chunk: dict[str, Any]) -> str:
    candidates = chunk.get("candidates") or [{}]
    parts = (candidates[0].get("content") or {}).get("parts") or []
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))
