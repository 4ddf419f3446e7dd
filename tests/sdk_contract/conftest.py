"""Fixtures for the contract tests that run Google's own SDKs, unmodified, against the emulator.

The SDKs get their access tokens through google-auth's real service-account path (a key file whose
`token_uri` is the emulator's OAuth endpoint, signed JWT grant, refresh), and every connection they open is
checked: a name other than the emulator's loopback address (a metadata server, `*.googleapis.com`) is
refused and fails the test, so nothing here can reach Google or the network.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.oauth2 import service_account

from controller.testenv.google_credentials import AdcCredentials, service_account_key_file
from emulator import Emulator, EmulatorConfig

PROJECT = "demo-project"
NUMBER = "123456789012"
LOCATION = "us-central1"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and report) every name lookup that is not the loopback address the emulator listens on."""
    refused: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in _LOOPBACK:
            refused.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"sdk contract tests reach only loopback, not {name}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    # No ADC discovery, metadata server or proxy may come into play: the SDKs are handed their credentials.
    for name in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "*")
    yield refused
    assert not refused, f"an SDK tried to reach {sorted(set(refused))}"


def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        seed=17,
        pending_seconds=60,
        step_seconds=10,
        total_steps=20,
        cancel_seconds=20,
        project_numbers={PROJECT: NUMBER},
    )


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(emulator_config()) as running:
        yield running


@pytest.fixture
def adc(emu: Emulator, tmp_path: Path) -> AdcCredentials:
    return service_account_key_file(emu.url, tmp_path, project=PROJECT)


@pytest.fixture
def credentials(adc: AdcCredentials) -> service_account.Credentials:
    """google-auth credentials from the key file: the SDKs refresh them at the emulator's `/token`."""
    return service_account.Credentials.from_service_account_file(str(adc.path), scopes=[CLOUD_PLATFORM])
