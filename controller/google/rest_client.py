"""What the Vertex AI and Gemini API clients share: one `Transport`, the call plumbing and generation.

The two surfaces differ in where a resource name is served (Vertex: a regional host per location; Gemini: one
host) and in their resource names, so a subclass gives `_url` and its method names; everything that must
behave the same on both (retries, timeouts, the generate body, parsing the answer) lives once, here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self

import httpx

from controller.google.auth import Auth
from controller.google.models_common import GenerateContentResponse, parse_model, user_contents
from controller.google.retry import RetryPolicy
from controller.google.transport import DEFAULT_TIMEOUT, Hint, Observer, Transport


class RestClient:
    """A Google REST API over one `Transport`. Safe to share between threads."""

    def __init__(
        self,
        *,
        api: str,
        auth: Auth,
        hint: Hint,
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        generate_timeout: float = 600.0,
        observer: Observer | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api = api
        self._generate_timeout = generate_timeout
        self._transport = Transport(
            api=api,
            auth=auth,
            retry=retry or RetryPolicy(),
            timeout=timeout,
            observer=observer,
            hint=hint,
            http_client=http_client,
            sleep=sleep,
        )

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _url(self, path: str) -> str:
        """The full URL of `path` (a resource name plus any `:verb`)."""
        raise NotImplementedError

    def _call(
        self,
        method: str,
        http_method: str,
        path: str,
        *,
        resource: str,
        retry: bool,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = None,
    ) -> Any:
        return self._transport.call(
            method,
            http_method,
            self._url(path),
            resource=resource,
            params=params,
            body=body,
            retry=retry,
            timeout=timeout,
        )

    def _generate(
        self,
        method: str,
        target: str,
        contents: str | list[dict[str, Any]],
        generation_config: Mapping[str, Any] | None,
        system_instruction: Mapping[str, Any] | None,
    ) -> GenerateContentResponse:
        """`{target}:generateContent`: read-only, so retried; its own (long) timeout."""
        data = self._call(
            method,
            "POST",
            f"{target}:generateContent",
            resource=target,
            retry=True,
            body=generate_body(contents, generation_config, system_instruction),
            timeout=self._generate_timeout,
        )
        return parse_model(GenerateContentResponse, data, method, target, api=self._api)

    def _stream_generate(
        self,
        method: str,
        target: str,
        contents: str | list[dict[str, Any]],
        generation_config: Mapping[str, Any] | None,
        system_instruction: Mapping[str, Any] | None,
    ) -> Iterator[GenerateContentResponse]:
        """`{target}:streamGenerateContent` as Server-Sent Events (`alt=sse`), one parsed chunk at a time."""
        for chunk in self._transport.stream_sse(
            method,
            self._url(f"{target}:streamGenerateContent"),
            resource=target,
            params={"alt": "sse"},
            body=generate_body(contents, generation_config, system_instruction),
            retry=True,
            timeout=self._generate_timeout,
        ):
            yield parse_model(GenerateContentResponse, chunk, method, target, api=self._api)


def generate_body(
    contents: str | list[dict[str, Any]],
    generation_config: Mapping[str, Any] | None,
    system_instruction: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The `GenerateContentRequest` body, the same on both APIs (camelCase, empty parts left out)."""
    body: dict[str, Any] = {"contents": user_contents(contents)}
    if generation_config:
        body["generationConfig"] = dict(generation_config)
    if system_instruction:
        body["systemInstruction"] = dict(system_instruction)
    return body
