"""Credentials for the Google clients: ADC (optionally impersonating), an API key, a static token, or none.

Each kind is an `Auth`: it hands the transport the headers for one request and the secret strings the
transport must scrub from anything it logs or raises. Tokens are refreshed *before* they expire, under a
lock, because the operator calls Google from several worker threads that share one credential; without the
lock each thread would fetch its own token when the old one runs out.

No `Auth` ever puts a secret into its `repr`, and none logs one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

logger = logging.getLogger(__name__)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# Refresh this long before `expiry`, so a token never expires between the check and Google reading it.
DEFAULT_REFRESH_MARGIN = timedelta(minutes=5)


class Auth(Protocol):
    """What the transport needs from a credential."""

    def headers(self) -> dict[str, str]:
        """Headers that authenticate one request (refreshing first when needed)."""
        ...

    def secrets(self) -> list[str]:
        """Every secret string that could appear in a request, so it can be scrubbed from logs and errors."""
        ...

    def invalidate(self) -> bool:
        """Drop a token the server rejected; True when a fresh one can be fetched (worth one more try)."""
        ...

    @property
    def kind(self) -> str:
        """A short word for messages: "adc", "api-key", "static-token", "none"."""
        ...


class NoAuth:
    """Sends no credential: for the emulator started without authentication."""

    kind = "none"

    def headers(self) -> dict[str, str]:
        return {}

    def secrets(self) -> list[str]:
        return []

    def invalidate(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NoAuth()"


class StaticTokenAuth:
    """A fixed bearer token that never refreshes: for the emulator and short-lived scripts."""

    kind = "static-token"

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("StaticTokenAuth needs a non-empty token")
        self._token = token

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._token}"}

    def secrets(self) -> list[str]:
        return [self._token]

    def invalidate(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "StaticTokenAuth(token=<redacted>)"


class ApiKeyAuth:
    """A Gemini API key, sent as the `x-goog-api-key` header (never in the URL, where proxies log it)."""

    kind = "api-key"

    def __init__(self, api_key: str) -> None:
        if not api_key:
            raise ValueError("ApiKeyAuth needs a non-empty API key")
        self._key = api_key

    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}

    def secrets(self) -> list[str]:
        return [self._key]

    def invalidate(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ApiKeyAuth(api_key=<redacted>)"


class CredentialsAuth:
    """A `google.auth.credentials.Credentials` (ADC, impersonated, ...) refreshed before expiry.

    `refresh_request` is the google-auth transport used to fetch tokens; by default an httpx one, so the
    operator needs no second HTTP library.
    """

    kind = "adc"

    def __init__(
        self,
        credentials: Any,
        *,
        refresh_margin: timedelta = DEFAULT_REFRESH_MARGIN,
        refresh_request: Any | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._credentials = credentials
        self._margin = refresh_margin
        self._request = refresh_request if refresh_request is not None else HttpxAuthRequest()
        self._now = now or _utcnow_naive
        self._lock = threading.Lock()
        self._force_refresh = False

    @property
    def credentials(self) -> Any:
        return self._credentials

    def _needs_refresh(self) -> bool:
        if self._force_refresh or not getattr(self._credentials, "token", None):
            return True
        expiry: datetime | None = getattr(self._credentials, "expiry", None)
        if expiry is None:
            return False
        if expiry.tzinfo is not None:
            expiry = expiry.astimezone(UTC).replace(tzinfo=None)
        return expiry - self._margin <= self._now()

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._needs_refresh():
                self._refresh_locked()
            token = str(self._credentials.token)
            headers = {"authorization": f"Bearer {token}"}
            quota_project = getattr(self._credentials, "quota_project_id", None)
            if quota_project:
                headers["x-goog-user-project"] = str(quota_project)
            return headers

    def _refresh_locked(self) -> None:
        from google.auth import exceptions as auth_exceptions  # noqa: PLC0415 - keep import cost off CLI start

        from controller.google.errors import UnauthenticatedError  # noqa: PLC0415

        logger.debug("refreshing the Google access token (%s)", type(self._credentials).__name__)
        try:
            self._credentials.refresh(self._request)
        except auth_exceptions.GoogleAuthError as exc:
            # google-auth's messages can quote a token endpoint's response; keep only the exception type and
            # the first line, scrubbed of any secret we know.
            first_line = str(exc).splitlines()[0] if str(exc) else ""
            for secret in self.secrets():
                first_line = first_line.replace(secret, "<redacted>")
            raise UnauthenticatedError(
                f"could not refresh the Google access token ({type(exc).__name__}: {first_line[:300]}). "
                "Check the operator's Application Default Credentials: on GKE the Kubernetes service account "
                "must be bound to a Google service account through Workload Identity; elsewhere "
                "GOOGLE_APPLICATION_CREDENTIALS must name a readable key file; with impersonation the "
                "source identity needs roles/iam.serviceAccountTokenCreator on the target service account",
                status="UNAUTHENTICATED",
            ) from None
        self._force_refresh = False

    def secrets(self) -> list[str]:
        token = getattr(self._credentials, "token", None)
        return [str(token)] if token else []

    def invalidate(self) -> bool:
        with self._lock:
            self._force_refresh = True
        return True

    def __repr__(self) -> str:
        return f"CredentialsAuth(credentials={type(self._credentials).__name__})"


def application_default_auth(
    *,
    scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
    impersonate_service_account: str | None = None,
    delegates: Sequence[str] = (),
    quota_project_id: str | None = None,
    lifetime_seconds: int = 3600,
) -> CredentialsAuth:
    """Application Default Credentials, optionally impersonating `impersonate_service_account`.

    ADC finds Workload Identity on GKE, `GOOGLE_APPLICATION_CREDENTIALS` (a key file, where a user insists)
    or gcloud's user credentials. Impersonation lets one operator identity act as a per-team service account
    without holding its key.
    """
    import google.auth  # noqa: PLC0415
    from google.auth import impersonated_credentials  # noqa: PLC0415

    credentials, _project = google.auth.default(scopes=list(scopes), quota_project_id=quota_project_id)
    if impersonate_service_account:
        credentials = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
            source_credentials=credentials,
            target_principal=impersonate_service_account,
            target_scopes=list(scopes),
            delegates=list(delegates) or None,
            lifetime=lifetime_seconds,
        )
    return CredentialsAuth(credentials)


def _utcnow_naive() -> datetime:
    """google-auth keeps `expiry` as a naive UTC datetime; compare like with like."""
    return datetime.now(UTC).replace(tzinfo=None)


class _AuthResponse:
    """google-auth's transport Response interface over an httpx response."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class HttpxAuthRequest:
    """google-auth's transport Request interface over httpx, used only to fetch and refresh tokens."""

    def __init__(self, client: httpx.Client | None = None, timeout: float = 30.0) -> None:
        self._client = client or httpx.Client(timeout=timeout)
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **_kwargs: Any,
    ) -> _AuthResponse:
        from google.auth import exceptions as auth_exceptions  # noqa: PLC0415

        try:
            response = self._client.request(
                method, url, content=body, headers=dict(headers or {}), timeout=timeout or self._timeout
            )
        except httpx.HTTPError as exc:
            message = f"token request failed: {type(exc).__name__}"
            raise auth_exceptions.TransportError(message) from None  # type: ignore[no-untyped-call]
        return _AuthResponse(response)
