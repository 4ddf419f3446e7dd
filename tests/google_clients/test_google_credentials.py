"""Credentials: refresh before expiry under concurrency, the header on the wire, and no secret in any text."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.auth import credentials as ga_credentials
from google.auth import exceptions as ga_exceptions
from google_helpers import LOCATION, PROJECT, TOKEN, job_body, model_body

from controller.google import (
    ApiKeyAuth,
    Auth,
    CredentialsAuth,
    GeminiClient,
    GoogleAPIError,
    PermissionDeniedError,
    RetryPolicy,
    StaticTokenAuth,
    UnauthenticatedError,
    VertexClient,
    application_default_auth,
)
from emulator import Emulator

SENTINEL_TOKEN = "ya29.SENTINEL-token-7f3a9c"
SENTINEL_KEY = "AIzaSENTINEL-key-5be21d"
NO_RETRY = RetryPolicy(max_attempts=1)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class ExpiringCredentials(ga_credentials.Credentials):  # type: ignore[misc]
    """Hands out `tokens` in order, each valid for `lifetime`; counts refreshes."""

    def __init__(
        self, tokens: list[str], lifetime: timedelta = timedelta(hours=1), delay: float = 0.0
    ) -> None:
        super().__init__()
        self._tokens = list(tokens)
        self._lifetime = lifetime
        self._delay = delay
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        time.sleep(self._delay)
        self.refreshes += 1
        self.token = self._tokens.pop(0) if self._tokens else self.token
        self.expiry = _utcnow() + self._lifetime


class FailingCredentials(ga_credentials.Credentials):  # type: ignore[misc]
    def refresh(self, request: Any) -> None:
        raise ga_exceptions.RefreshError(f"token endpoint said no to {SENTINEL_TOKEN}")


def test_the_token_is_fetched_once_and_reused() -> None:
    creds = ExpiringCredentials(["t1", "t2"])
    auth = CredentialsAuth(creds)
    assert auth.headers() == {"authorization": "Bearer t1"}
    assert auth.headers() == {"authorization": "Bearer t1"}
    assert creds.refreshes == 1


def test_the_token_is_refreshed_before_it_expires() -> None:
    creds = ExpiringCredentials(["t1", "t2"], lifetime=timedelta(minutes=3))
    auth = CredentialsAuth(creds, refresh_margin=timedelta(minutes=5))
    assert auth.headers()["authorization"] == "Bearer t1"
    # t1 still has ~3 minutes, which is inside the 5-minute margin: fetch t2 now rather than risk expiry.
    assert auth.headers()["authorization"] == "Bearer t2"
    assert creds.refreshes == 2


def test_an_expired_token_is_refreshed() -> None:
    creds = ExpiringCredentials(["t2"])
    creds.token = "t1"
    creds.expiry = _utcnow() - timedelta(seconds=1)
    assert CredentialsAuth(creds).headers()["authorization"] == "Bearer t2"


def test_concurrent_callers_share_one_refresh() -> None:
    creds = ExpiringCredentials(["t1", "t2", "t3"], delay=0.05)
    auth = CredentialsAuth(creds)
    seen: list[str] = []
    barrier = threading.Barrier(12)

    def worker() -> None:
        barrier.wait()
        seen.append(auth.headers()["authorization"])

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert creds.refreshes == 1
    assert seen == ["Bearer t1"] * 12


def test_the_header_reaches_the_server(emu: Emulator) -> None:
    creds = ExpiringCredentials([TOKEN])  # the only token the emulator fixture accepts
    with VertexClient(base_url=emu.url, auth=CredentialsAuth(creds), retry=NO_RETRY) as vertex:
        assert vertex.create_tuning_job(PROJECT, LOCATION, job_body()).state == "JOB_STATE_PENDING"


def test_a_rejected_token_is_refreshed_once_and_the_call_repeated(emu: Emulator) -> None:
    creds = ExpiringCredentials([TOKEN])
    creds.token = "revoked-token"
    creds.expiry = _utcnow() + timedelta(hours=1)
    with VertexClient(base_url=emu.url, auth=CredentialsAuth(creds), retry=NO_RETRY) as vertex:
        vertex.list_tuning_jobs(PROJECT, LOCATION)
    assert [r.status for r in emu.requests("tuningJobs.list")] == [401, 200]
    assert creds.refreshes == 1


def test_a_refresh_failure_says_what_to_check(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnauthenticatedError) as caught:
        CredentialsAuth(FailingCredentials()).headers()
    text = str(caught.value)
    assert "Workload Identity" in text and "GOOGLE_APPLICATION_CREDENTIALS" in text


class ExpiredThenFailingCredentials(ga_credentials.Credentials):  # type: ignore[misc]
    """Holds an expired token; its refresh fails with a token endpoint's answer that quotes that token."""

    def __init__(self) -> None:
        super().__init__()
        self.token = SENTINEL_TOKEN
        self.expiry = _utcnow() - timedelta(minutes=1)

    def refresh(self, request: Any) -> None:
        raise ga_exceptions.RefreshError(
            f"('invalid_grant: token {SENTINEL_TOKEN} is revoked', {{'access_token': '{SENTINEL_TOKEN}'}})"
            + " padding" * 60
            + '\nsecond line with the body: {"error": "invalid_grant"}'
        )


def test_a_refresh_failure_keeps_one_scrubbed_line_and_says_what_to_check() -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        CredentialsAuth(ExpiredThenFailingCredentials()).headers()
    first_line = (
        "('invalid_grant: token <redacted> is revoked', {'access_token': '<redacted>'})" + " padding" * 60
    )
    assert str(caught.value) == (
        f"could not refresh the Google access token (RefreshError: {first_line[:300]}). "
        "Check the operator's Application Default Credentials: on GKE the Kubernetes service account "
        "must be bound to a Google service account through Workload Identity; elsewhere "
        "GOOGLE_APPLICATION_CREDENTIALS must name a readable key file; with impersonation the "
        "source identity needs roles/iam.serviceAccountTokenCreator on the target service account"
    )
    assert caught.value.status == "UNAUTHENTICATED" and caught.value.http_status is None
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_refresh_failure_without_a_message_still_names_its_type() -> None:
    class Silent(ga_credentials.Credentials):  # type: ignore[misc]
        def refresh(self, request: Any) -> None:
            raise ga_exceptions.RefreshError()

    with pytest.raises(UnauthenticatedError) as caught:
        CredentialsAuth(Silent()).headers()
    assert str(caught.value).startswith("could not refresh the Google access token (RefreshError: ). Check")


def _assert_clean(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text


def test_a_403_names_the_permission_and_the_role(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emu.config.valid_credentials = [SENTINEL_TOKEN]
    emu.add_fault("permission_denied", "tuningJobs.create", times=1)
    with VertexClient(base_url=emu.url, auth=StaticTokenAuth(SENTINEL_TOKEN), retry=NO_RETRY) as vertex:
        with pytest.raises(PermissionDeniedError) as caught:
            vertex.create_tuning_job(PROJECT, LOCATION, job_body())
        client_repr = repr(vertex)
    message = str(caught.value)
    assert message.startswith(
        f"permission denied calling tuningJobs.create on projects/{PROJECT}/locations/{LOCATION}: HTTP 403"
    )
    assert "Permission 'aiplatform.tuningJobs.create' denied" in message  # Google's own words
    assert "needs the IAM permission aiplatform.tuningJobs.create" in message
    assert "roles/aiplatform.user" in message
    _assert_clean(SENTINEL_TOKEN, message, repr(caught.value), caplog.text, client_repr)


def test_a_rejected_token_says_which_credential(emu: Emulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    creds = ExpiringCredentials([SENTINEL_TOKEN, SENTINEL_TOKEN])  # the emulator accepts only TOKEN
    with (
        VertexClient(base_url=emu.url, auth=CredentialsAuth(creds), retry=NO_RETRY) as vertex,
        pytest.raises(UnauthenticatedError) as caught,
    ):
        vertex.get_tuning_job(f"projects/{PROJECT}/locations/{LOCATION}/tuningJobs/1")
    message = str(caught.value)
    assert "HTTP 401 UNAUTHENTICATED" in message
    assert "Application Default Credentials" in message and "cloud-platform" in message
    _assert_clean(SENTINEL_TOKEN, message, repr(caught.value), caplog.text, json.dumps(caught.value.details))


def test_a_rejected_api_key_says_so_and_never_shows_it(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with GeminiClient(base_url=emu.url, auth=ApiKeyAuth(SENTINEL_KEY), retry=NO_RETRY) as gemini:
        with pytest.raises(UnauthenticatedError) as caught:
            gemini.create_tuned_model(model_body(), tuned_model_id="never")
        client_repr = repr(gemini)
    message = str(caught.value)
    assert "API key not valid" in message and "Gemini API key" in message
    assert caught.value.reason == "API_KEY_INVALID"
    _assert_clean(SENTINEL_KEY, message, repr(caught.value), caplog.text, client_repr)
    request = emu.requests("tunedModels.create")[0]
    assert request.credentials == ("api-key-header",)  # sent as a header, never in the URL
    _assert_clean(SENTINEL_KEY, request.path, request.query)


def test_a_valid_api_key_goes_in_the_header(emu: Emulator) -> None:
    emu.config.valid_credentials = [SENTINEL_KEY]
    with GeminiClient(base_url=emu.url, auth=ApiKeyAuth(SENTINEL_KEY), retry=NO_RETRY) as gemini:
        assert gemini.create_tuned_model(model_body(), tuned_model_id="keyed").metadata is not None
        gemini.get_tuned_model("keyed")
        list(gemini.iter_tuned_models())
    records = emu.requests()
    assert [r.method for r in records] == ["tunedModels.create", "tunedModels.get", "tunedModels.list"]
    for record in records:
        assert record.status == 200, record
        # The emulator accepts `?key=` as Google does and records it as "api-key-query": only the header
        # is right, because URLs end up in proxy and access logs.
        assert record.credentials == ("api-key-header",), record
        assert "key=" not in record.query


def test_a_bearer_token_goes_in_the_authorization_header(vertex: VertexClient, emu: Emulator) -> None:
    vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    vertex.list_tuning_jobs(PROJECT, LOCATION)
    assert [r.credentials for r in emu.requests()] == [("bearer-header",), ("bearer-header",)]


def test_no_credential_gets_the_real_403(emu: Emulator) -> None:
    response = httpx.get(f"{emu.url}/v1beta/tunedModels")
    assert response.status_code == 403
    assert response.json()["error"]["status"] == "PERMISSION_DENIED"
    assert "unregistered callers" in response.json()["error"]["message"]


def _static_auth() -> StaticTokenAuth:
    return StaticTokenAuth(SENTINEL_TOKEN)


def _refreshing_auth() -> CredentialsAuth:
    return CredentialsAuth(ExpiringCredentials([SENTINEL_TOKEN]))


def _api_key_auth() -> ApiKeyAuth:
    return ApiKeyAuth(SENTINEL_TOKEN)


@pytest.mark.parametrize(
    "make_auth", [_static_auth, _refreshing_auth, _api_key_auth], ids=lambda f: f.__name__
)
def test_a_server_echoing_the_secret_is_redacted(
    caplog: pytest.LogCaptureFixture, make_auth: Callable[[], Auth]
) -> None:
    """Every kind of credential tells the transport its secret, so an echo of it is scrubbed."""
    caplog.set_level(logging.DEBUG)

    def echo(request: httpx.Request) -> httpx.Response:
        secret = request.headers.get("authorization") or request.headers["x-goog-api-key"]
        body = {"error": {"code": 403, "message": f"denied for {secret}", "status": "PERMISSION_DENIED"}}
        return httpx.Response(403, json=body)

    client = VertexClient(
        base_url="http://mock.invalid",
        auth=make_auth(),
        retry=NO_RETRY,
        http_client=httpx.Client(transport=httpx.MockTransport(echo)),
    )
    with pytest.raises(GoogleAPIError) as caught:
        client.get_tuning_job("projects/p/locations/l/tuningJobs/1")
    assert "<redacted>" in str(caught.value)
    _assert_clean(SENTINEL_TOKEN, str(caught.value), repr(caught.value), caplog.text)


def test_auth_reprs_hide_secrets() -> None:
    creds = ExpiringCredentials([SENTINEL_TOKEN])
    auth = CredentialsAuth(creds)
    auth.headers()
    for value in (auth, StaticTokenAuth(SENTINEL_TOKEN), ApiKeyAuth(SENTINEL_KEY)):
        _assert_clean(SENTINEL_TOKEN, repr(value), str(value))
        _assert_clean(SENTINEL_KEY, repr(value), str(value))


def test_adc_with_impersonation_builds_the_chain_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "user.json"
    key_file.write_text(
        json.dumps(
            {
                "type": "authorized_user",
                "client_id": "cid",
                "client_secret": "csecret",
                "refresh_token": "rtok",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    auth = application_default_auth(impersonate_service_account="tuner@demo-project.iam.gserviceaccount.com")
    inner = auth.credentials
    assert type(inner).__name__ == "Credentials" and type(inner).__module__.endswith(
        "impersonated_credentials"
    )
    assert inner.service_account_email == "tuner@demo-project.iam.gserviceaccount.com"
    assert "csecret" not in repr(auth) and "rtok" not in repr(auth)
