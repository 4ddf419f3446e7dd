"""One HTTP attempt loop shared by the Vertex AI and Gemini API clients.

Everything that must be the same for every Google call lives here and only here: authentication headers,
timeouts, the retry loop, turning failures into typed errors, scrubbing credentials from every message, and
telling the observer (the operator's Prometheus counters) about each attempt.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from typing import Any, TypeVar

import httpx

from controller.google.auth import Auth
from controller.google.errors import (
    GoogleAPIError,
    MalformedResponseError,
    TransportError,
    UnauthenticatedError,
    error_from_response,
)
from controller.google.retry import NO_RETRY, RetryPolicy

logger = logging.getLogger("vertexops.google")

#: observer(api, method, status_code, seconds): once per HTTP attempt; status_code None when no response came.
Observer = Callable[[str, str, int | None, float], None]
#: hint(error_class, status, method, resource) -> a sentence telling the reader what to fix, or "".
Hint = Callable[[type[GoogleAPIError], str, str, str], str]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def _user_agent() -> str:
    """`vertexops/<version>`: Cloud Audit Logs show it (callerSuppliedUserAgent), so the operator's calls
    can be told from a person's."""
    try:
        return f"vertexops/{metadata.version('vertexops')}"
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "vertexops"


USER_AGENT = _user_agent()
REDACTED = "<redacted>"

T = TypeVar("T")


class Transport:
    """Sends requests for one API (`api` is "aiplatform" or "generativelanguage") and returns parsed JSON."""

    def __init__(
        self,
        *,
        api: str,
        auth: Auth,
        retry: RetryPolicy,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        observer: Observer | None = None,
        hint: Hint | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self.auth = auth
        self.retry = retry
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._observer = observer
        self._hint = hint
        self._owns_client = http_client is None
        self._client = http_client or httpx.Client(timeout=self._timeout, headers={"user-agent": USER_AGENT})
        self._sleep = sleep
        self._rng = rng or random.Random()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __repr__(self) -> str:
        return f"Transport(api={self.api!r}, auth={self.auth!r})"

    # -- public calls ------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        http_method: str,
        url: str,
        *,
        resource: str = "",
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        retry: bool,
        timeout: float | None = None,
    ) -> Any:
        """One API call: returns the parsed JSON body (`{}` for an empty one) or raises `GoogleAPIError`.

        `retry` is the caller's statement that repeating the call cannot cause a second side effect.
        """

        def attempt() -> Any:
            response = self._send(
                method,
                http_method,
                url,
                resource=resource,
                params=params,
                body=body,
                timeout=timeout,
                stream=False,
            )
            return self._parse_json(response, method, resource)

        return self._with_retries(method, retry, attempt)

    def stream_sse(
        self,
        method: str,
        url: str,
        *,
        resource: str = "",
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        retry: bool,
        timeout: float | None = None,
    ) -> Iterator[Any]:
        """POST and yield each Server-Sent Event's JSON payload as it arrives.

        Retries happen only before the first event: once data has been handed to the caller, a repeat would
        duplicate it. An `{"error": ...}` event mid-stream is raised as a typed error.
        """

        def attempt() -> httpx.Response:
            response = self._send(
                method, "POST", url, resource=resource, params=params, body=body, timeout=timeout, stream=True
            )
            if response.status_code >= 400:
                try:
                    response.read()
                finally:
                    response.close()
                raise self._http_error(response, method, resource)
            return response

        response = self._with_retries(method, retry, attempt)
        try:
            for data in _sse_data(response):
                try:
                    payload = json.loads(data)
                except ValueError:
                    raise MalformedResponseError(
                        self._redact(
                            f"malformed response from {method}: an event is not JSON: {data[:200]!r}"
                        ),
                        http_status=response.status_code,
                        status="UNKNOWN",
                        api=self.api,
                        method=method,
                        resource=resource,
                    ) from None
                if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
                    raise error_from_response(
                        http_status=int(payload["error"].get("code") or 500),
                        body_text=data,
                        retry_after_header=None,
                        api=self.api,
                        method=method,
                        resource=resource,
                        redact=self._redact,
                        hint=self._bound_hint(method, resource),
                    )
                yield payload
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, method, resource) from None
        finally:
            response.close()

    def open_stream(
        self,
        method: str,
        url: str,
        *,
        resource: str = "",
        params: Mapping[str, Any] | None = None,
        retry: bool,
        timeout: float | None = None,
    ) -> httpx.Response:
        """GET a body to be read piece by piece (a media download): the open response, status checked.

        Retries happen only until the status line arrives; the caller reads and closes the response, and
        `stream_error` turns a failure while reading into a typed error.
        """

        def attempt() -> httpx.Response:
            response = self._send(
                method, "GET", url, resource=resource, params=params, body=None, timeout=timeout, stream=True
            )
            if response.status_code >= 400:
                try:
                    response.read()
                finally:
                    response.close()
                raise self._http_error(response, method, resource)
            return response

        return self._with_retries(method, retry, attempt)

    def stream_error(self, exc: Exception, method: str, resource: str) -> TransportError:
        """A typed, redacted error for a connection that failed while a streamed body was being read."""
        return self._transport_error(exc, method, resource)

    # -- internals ---------------------------------------------------------------------------------------

    def _with_retries(self, method: str, retry: bool, attempt: Callable[[], T]) -> T:
        policy = self.retry if retry else NO_RETRY
        started = time.monotonic()
        attempts = 0
        reauthenticated = False
        while True:
            attempts += 1
            try:
                return attempt()
            except UnauthenticatedError as error:
                error.attempts = attempts
                # A 401 means Google did not act on the request, so one more try with a fresh token is safe
                # even for create. Refresh failures (http_status None) are not retried.
                if error.http_status == 401 and not reauthenticated and self.auth.invalidate():
                    reauthenticated = True
                    logger.info("%s: credential rejected, retrying once with a fresh token", method)
                    continue
                raise
            except GoogleAPIError as error:
                error.attempts = attempts
                if not error.retryable or attempts >= policy.max_attempts:
                    raise
                delay = policy.delay_for(error, attempts, self._rng)
                if time.monotonic() - started + delay > policy.total_timeout:
                    raise
                logger.warning(
                    "%s failed (%s, attempt %d of %d); retrying in %.2fs",
                    method,
                    error.status if error.http_status is None else f"HTTP {error.http_status} {error.status}",
                    attempts,
                    policy.max_attempts,
                    delay,
                )
                self._sleep(delay)

    def _send(
        self,
        method: str,
        http_method: str,
        url: str,
        *,
        resource: str,
        params: Mapping[str, Any] | None,
        body: Any,
        timeout: float | None,
        stream: bool,
    ) -> httpx.Response:
        headers = self.auth.headers()
        if body is not None:
            headers["content-type"] = "application/json"
        content = json.dumps(body).encode() if body is not None else None
        request = self._client.build_request(
            http_method,
            url,
            params=_clean_params(params),
            content=content,
            headers=headers,
            timeout=httpx.Timeout(timeout) if timeout is not None else self._timeout,
        )
        started = time.monotonic()
        try:
            response = self._client.send(request, stream=stream)
        except httpx.HTTPError as exc:
            self._observe(method, None, time.monotonic() - started)
            raise self._transport_error(exc, method, resource) from None
        self._observe(method, response.status_code, time.monotonic() - started)
        logger.debug("%s %s -> HTTP %d", method, resource or url, response.status_code)
        if not stream and response.status_code >= 400:
            raise self._http_error(response, method, resource)
        return response

    def _parse_json(self, response: httpx.Response, method: str, resource: str) -> Any:
        text = response.text
        if not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError:
            raise MalformedResponseError(
                self._redact(
                    f"malformed response from {method}"
                    + (f" on {resource}" if resource else "")
                    + f": HTTP {response.status_code} body is not JSON: {text[:200]!r}"
                ),
                http_status=response.status_code,
                status="UNKNOWN",
                api=self.api,
                method=method,
                resource=resource,
            ) from None

    def _http_error(self, response: httpx.Response, method: str, resource: str) -> GoogleAPIError:
        return error_from_response(
            http_status=response.status_code,
            body_text=response.text,
            retry_after_header=response.headers.get("retry-after"),
            api=self.api,
            method=method,
            resource=resource,
            redact=self._redact,
            hint=self._bound_hint(method, resource),
        )

    def _transport_error(self, exc: Exception, method: str, resource: str) -> TransportError:
        reason = str(exc) or "no details"
        where = f" on {resource}" if resource else ""
        return TransportError(
            self._redact(f"transport error calling {method}{where}: {type(exc).__name__}: {reason}"),
            http_status=None,
            status="DEADLINE_EXCEEDED" if isinstance(exc, httpx.TimeoutException) else "UNAVAILABLE",
            api=self.api,
            method=method,
            resource=resource,
        )

    def _bound_hint(self, method: str, resource: str) -> Callable[[type[GoogleAPIError], str], str] | None:
        hint = self._hint
        if hint is None:
            return None
        return lambda cls, status: hint(cls, status, method, resource)

    def _observe(self, method: str, status_code: int | None, seconds: float) -> None:
        if self._observer is None:
            return
        try:
            self._observer(self.api, method, status_code, seconds)
        except Exception:  # metrics must never break a call
            logger.exception("the Google API call observer raised; ignoring")

    def _redact(self, text: str) -> str:
        for secret in self.auth.secrets():
            if secret:
                text = text.replace(secret, REDACTED)
        return text


def _clean_params(
    params: Mapping[str, Any] | None,
) -> list[tuple[str, str | int | float | bool | None]] | None:
    """Query parameters without None values; sequences become repeated parameters (`timeSeries=a&...`)."""
    if not params:
        return None
    items: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            items.extend((key, str(v)) for v in value)
        elif isinstance(value, bool):
            items.append((key, "true" if value else "false"))
        else:
            items.append((key, str(value)))
    return items


def _sse_data(response: httpx.Response) -> Iterator[str]:
    """The `data:` payload of each event (multi-line data joined with newlines)."""
    lines: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if field == "data":
            lines.append(value[1:] if value.startswith(" ") else value)
    if lines:
        yield "\n".join(lines)
