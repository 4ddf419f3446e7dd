"""Typed errors for calls to Google APIs.

Callers decide what to do from the *kind* of failure (retry later, tell the user to fix the spec, tell the
admin to grant a role), so every failure is turned into one subclass of `GoogleAPIError` here, in one place,
from the `{"error": {code, message, status, details}}` body Google sends. Messages never carry credentials:
the transport passes every text through a redactor before it lands in an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any

RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"

# google.rpc.Code names a body may carry when its `status` field is missing, by HTTP status.
_DEFAULT_STATUS_BY_HTTP: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class GoogleAPIError(Exception):
    """A call to a Google API failed.

    `http_status` is None when no HTTP response arrived (see `TransportError`). `status` is the
    google.rpc.Code name (e.g. "PERMISSION_DENIED"). `retry_after` is the server's hint in seconds (from
    `RetryInfo.retryDelay` or the `Retry-After` header), when it sent one. `attempts` counts HTTP attempts.
    """

    #: Whether repeating a call without side effects may succeed.
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        status: str = "UNKNOWN",
        details: Sequence[Mapping[str, Any]] = (),
        retry_after: float | None = None,
        api: str = "",
        method: str = "",
        resource: str = "",
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.status = status
        self.details: list[dict[str, Any]] = [dict(d) for d in details]
        self.retry_after = retry_after
        self.api = api
        self.method = method
        self.resource = resource
        self.attempts = attempts

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(http_status={self.http_status!r}, status={self.status!r}, "
            f"method={self.method!r}, message={self.message!r})"
        )

    @property
    def reason(self) -> str | None:
        """`ErrorInfo.reason` (e.g. "API_KEY_INVALID", "CREDENTIALS_MISSING") when the server sent one."""
        return _error_reason(self.details)


class BadRequestError(GoogleAPIError):
    """The request can never succeed as sent: the spec or the resource's state must change first."""


class InvalidArgumentError(BadRequestError):
    """INVALID_ARGUMENT / OUT_OF_RANGE: a field of the request is wrong; the message names it."""


class FailedPreconditionError(BadRequestError):
    """FAILED_PRECONDITION: the resource's state does not allow the call (e.g. cancel a finished job)."""


class NotFoundError(GoogleAPIError):
    """NOT_FOUND: the resource (or its parent project or location) does not exist."""


class PermissionDeniedError(GoogleAPIError):
    """PERMISSION_DENIED: the identity is known but lacks an IAM permission, or the API is disabled."""


class UnauthenticatedError(GoogleAPIError):
    """UNAUTHENTICATED (or an invalid API key): no usable credential reached Google."""


class ConflictError(GoogleAPIError):
    """409: ALREADY_EXISTS or ABORTED (a concurrent change)."""


class AlreadyExistsError(ConflictError):
    """ALREADY_EXISTS: a resource with the client-chosen id exists (e.g. a Gemini `tunedModelId`)."""


class RateLimitedError(GoogleAPIError):
    """429 RESOURCE_EXHAUSTED: a quota or rate limit; worth retrying after `retry_after`."""

    retryable = True


class ServerError(GoogleAPIError):
    """5xx: INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED and friends; usually transient."""

    retryable = True


class TransportError(GoogleAPIError):
    """No HTTP response: connection refused or dropped, or a timeout. Whether the server acted is unknown."""

    retryable = True


class MalformedResponseError(GoogleAPIError):
    """The server answered, but the body is not JSON or lacks fields every such response has."""


# status name -> class, for bodies whose `status` is more precise than their HTTP code.
_CLASS_BY_STATUS: dict[str, type[GoogleAPIError]] = {
    "INVALID_ARGUMENT": InvalidArgumentError,
    "OUT_OF_RANGE": InvalidArgumentError,
    "FAILED_PRECONDITION": FailedPreconditionError,
    "NOT_FOUND": NotFoundError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "UNAUTHENTICATED": UnauthenticatedError,
    "ALREADY_EXISTS": AlreadyExistsError,
    "ABORTED": ConflictError,
    "RESOURCE_EXHAUSTED": RateLimitedError,
    "INTERNAL": ServerError,
    "UNKNOWN": ServerError,
    "UNAVAILABLE": ServerError,
    "DEADLINE_EXCEEDED": ServerError,
    "DATA_LOSS": ServerError,
    "UNIMPLEMENTED": ServerError,
}


def error_class(http_status: int, status: str) -> type[GoogleAPIError]:
    """The class for an HTTP error, preferring the HTTP code where the two disagree on retryability."""
    if http_status == 429:
        return RateLimitedError
    if http_status == 401:
        return UnauthenticatedError
    if http_status == 403:
        return PermissionDeniedError
    if http_status >= 500:
        return ServerError
    if http_status == 400 and status == "INVALID_ARGUMENT":
        return InvalidArgumentError
    return _CLASS_BY_STATUS.get(status, BadRequestError if 400 <= http_status < 500 else GoogleAPIError)


def parse_error_body(text: str) -> dict[str, Any] | None:
    """The `error` object of a Google error body, or None when the body is not one.

    Streaming endpoints may wrap the error in a one-element list (`[{"error": {...}}]`), so that shape is
    accepted too.
    """
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        return dict(payload["error"])
    return None


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def parse_duration(value: object) -> float | None:
    """Seconds in a protobuf Duration JSON string such as "1.5s"; None when it is not one."""
    if isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match:
            return float(match.group(1))
    return None


def parse_retry_after_header(value: str | None) -> float | None:
    """Seconds in an HTTP `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime  # noqa: PLC0415 - only needed for the rare date form

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


#: `ErrorInfo.reason` values that mean "the credential is missing or bad", whatever the HTTP status.
CREDENTIAL_REASONS = frozenset(
    {
        "API_KEY_INVALID",
        "API_KEY_EXPIRED",
        "CREDENTIALS_MISSING",
        "ACCESS_TOKEN_EXPIRED",
        "ACCESS_TOKEN_TYPE_UNSUPPORTED",
    }
)


def _error_reason(details: Sequence[Mapping[str, Any]]) -> str | None:
    for detail in details:
        if detail.get("@type") == ERROR_INFO_TYPE and isinstance(detail.get("reason"), str):
            return str(detail["reason"])
    return None


def retry_delay_from_details(details: Sequence[Mapping[str, Any]]) -> float | None:
    """`RetryInfo.retryDelay` in seconds, when a detail carries it."""
    for detail in details:
        if detail.get("@type") == RETRY_INFO_TYPE:
            return parse_duration(detail.get("retryDelay"))
    return None


def error_from_response(
    *,
    http_status: int,
    body_text: str,
    retry_after_header: str | None,
    api: str,
    method: str,
    resource: str,
    redact: Callable[[str], str],
    hint: Callable[[type[GoogleAPIError], str], str] | None = None,
) -> GoogleAPIError:
    """Build the typed error for a non-2xx response.

    `hint` adds a sentence telling the reader what to grant or fix (401/403); `redact` scrubs credentials
    from every text that reaches the exception.
    """
    body = parse_error_body(body_text)
    if body is None:
        status = _DEFAULT_STATUS_BY_HTTP.get(http_status, "UNKNOWN")
        api_message = body_text.strip()[:500] or f"HTTP {http_status} with an empty body"
        details: list[dict[str, Any]] = []
    else:
        status = str(body.get("status") or _DEFAULT_STATUS_BY_HTTP.get(http_status, "UNKNOWN"))
        api_message = str(body.get("message") or f"HTTP {http_status}")
        raw_details = body.get("details")
        details = [d for d in raw_details if isinstance(d, dict)] if isinstance(raw_details, list) else []
    cls = error_class(http_status, status)
    if _error_reason(details) in CREDENTIAL_REASONS:
        # Google answers a bad API key with 400 INVALID_ARGUMENT; it is a credential problem, not a spec one.
        cls = UnauthenticatedError
    retry_after = retry_delay_from_details(details)
    if retry_after is None:
        retry_after = parse_retry_after_header(retry_after_header)
    verb = _VERB_BY_CLASS.get(cls, "error")
    where = f" on {resource}" if resource else ""
    message = f"{verb} calling {method}{where}: HTTP {http_status} {status}: {api_message}"
    if hint is not None:
        extra = hint(cls, status)
        if extra:
            # Google's messages usually end with a full stop already; do not add a second one.
            message = f"{message.rstrip('.')}. {extra}"
    scrubbed_details = json.loads(redact(json.dumps(details))) if details else []
    return cls(
        redact(message),
        http_status=http_status,
        status=status,
        details=scrubbed_details,
        retry_after=retry_after,
        api=api,
        method=method,
        resource=resource,
    )


_VERB_BY_CLASS: dict[type[GoogleAPIError], str] = {
    PermissionDeniedError: "permission denied",
    UnauthenticatedError: "unauthenticated",
    NotFoundError: "not found",
    InvalidArgumentError: "invalid argument",
    FailedPreconditionError: "failed precondition",
    AlreadyExistsError: "already exists",
    ConflictError: "conflict",
    RateLimitedError: "rate limited",
    ServerError: "server error",
    BadRequestError: "bad request",
}
