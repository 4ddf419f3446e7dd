"""Application Default Credentials end to end: google-auth gets its tokens from the emulator's endpoints.

A service-account key file (JWT-bearer grant at `token_uri`) and an external-account configuration (STS
token exchange at `token_url`) are written per test; the clients are built without an explicit `auth`, as
the operator builds them, so the whole production path runs: ADC discovery, signing, exchange, refresh.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from google_helpers import LOCATION, PROJECT, job_body, model_body

from controller.google import GeminiClient, RetryPolicy, UnauthenticatedError, VertexClient
from controller.testenv.google_credentials import (
    EXTERNAL_ACCOUNT,
    SERVICE_ACCOUNT,
    minted_tokens,
    service_account_key_file,
    write_adc_file,
)
from emulator import Emulator

NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.mark.parametrize("kind", [SERVICE_ACCOUNT, EXTERNAL_ACCOUNT])
def test_adc_tokens_are_minted_by_the_emulator_and_sent_in_the_header(
    emu: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    adc = write_adc_file(emu.url, tmp_path, kind)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc.path))
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    with VertexClient(base_url=emu.url, retry=NO_RETRY) as vertex:
        assert vertex.create_tuning_job(PROJECT, LOCATION, job_body()).state == "JOB_STATE_PENDING"
        vertex.list_tuning_jobs(PROJECT, LOCATION)
    grant = "oauth2.token" if kind == SERVICE_ACCOUNT else "sts.token"
    assert [r.status for r in emu.requests(grant)] == [200]  # one token, reused for both calls
    tokens = minted_tokens(emu.url, adc.token_prefix)
    assert len(tokens) == 1 and tokens[0].startswith("ya29.SENTINEL-")
    minted = emu.state.oauth.lookup(tokens[0])
    assert minted is not None and minted.principal == adc.principal
    assert "https://www.googleapis.com/auth/cloud-platform" in minted.scopes
    for record in emu.requests("tuningJobs.create") + emu.requests("tuningJobs.list"):
        assert record.status == 200 and record.credentials == ("bearer-header",)
    leaks = [name for name, value in {"token": tokens[0], **adc.secrets()}.items() if value in caplog.text]
    assert not leaks, leaks


def test_the_gemini_client_uses_adc_with_the_tuning_scope(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adc = service_account_key_file(emu.url, tmp_path)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc.path))
    with GeminiClient(base_url=emu.url, retry=NO_RETRY) as gemini:
        gemini.create_tuned_model(model_body(), tuned_model_id="adc-model")
    (token,) = minted_tokens(emu.url, adc.token_prefix)
    minted = emu.state.oauth.lookup(token)
    assert minted is not None
    assert "https://www.googleapis.com/auth/generative-language.tuning" in minted.scopes


def test_a_key_the_emulator_does_not_know_gets_no_token_and_no_secret_in_the_error(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adc = service_account_key_file(emu.url, tmp_path)
    emu.state.oauth.clear()  # the account's key was deleted on Google's side
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc.path))
    with (
        VertexClient(base_url=emu.url, retry=NO_RETRY) as vertex,
        pytest.raises(UnauthenticatedError) as caught,
    ):
        vertex.list_tuning_jobs(PROJECT, LOCATION)
    message = str(caught.value)
    assert "could not refresh the Google access token" in message and "invalid_grant" in message
    assert [r.status for r in emu.requests("oauth2.token")] == [400]
    assert emu.count("tuningJobs.list") == 0  # no call went out without a token
    leaks = [name for name, value in adc.secrets().items() if value in message + caplog.text]
    assert not leaks, leaks


def test_a_token_the_emulator_did_not_mint_is_refused(emu: Emulator) -> None:
    response = httpx.get(
        f"{emu.url}/v1/projects/{PROJECT}/locations/{LOCATION}/tuningJobs",
        headers={"authorization": "Bearer ya29.made-up-by-the-client"},
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["status"] == "UNAUTHENTICATED" and error["code"] == 401
    assert error["message"].startswith("Request had invalid authentication credentials.")
