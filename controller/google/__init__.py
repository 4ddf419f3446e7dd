"""Clients for the Google APIs the operator drives: Vertex AI (tuning jobs, endpoints, metrics) and the
Gemini API (tuned models), with credentials, retries and typed errors."""

from controller.google.auth import (
    ApiKeyAuth,
    Auth,
    CredentialsAuth,
    NoAuth,
    StaticTokenAuth,
    application_default_auth,
)
from controller.google.errors import (
    AlreadyExistsError,
    BadRequestError,
    ConflictError,
    FailedPreconditionError,
    GoogleAPIError,
    InvalidArgumentError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    UnauthenticatedError,
)
from controller.google.gemini import GeminiClient
from controller.google.retry import RetryPolicy
from controller.google.transport import Observer
from controller.google.vertex import VertexClient

__all__ = [
    "AlreadyExistsError",
    "ApiKeyAuth",
    "Auth",
    "BadRequestError",
    "ConflictError",
    "CredentialsAuth",
    "FailedPreconditionError",
    "GeminiClient",
    "GoogleAPIError",
    "InvalidArgumentError",
    "MalformedResponseError",
    "NoAuth",
    "NotFoundError",
    "Observer",
    "PermissionDeniedError",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "StaticTokenAuth",
    "TransportError",
    "UnauthenticatedError",
    "VertexClient",
    "application_default_auth",
]
