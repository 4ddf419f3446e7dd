"""Fixtures for the emulator tests: a fresh emulator and a raw HTTP client that speaks to it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from emulator_helpers import NUMBER, PROJECT, TOKEN

from emulator import Emulator, EmulatorConfig


@pytest.fixture
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(
        seed=11,
        pending_seconds=60,
        step_seconds=10,
        total_steps=20,
        cancel_seconds=20,
        gemini_step_seconds=5,
        gemini_total_steps=8,
        project_numbers={PROJECT: NUMBER},
    )
    with Emulator(config) as running:
        # Raw HTTP tests send fixed bearer tokens; the emulator accepts only tokens it minted or issued.
        running.state.oauth.issue(TOKEN)
        running.state.oauth.issue("t")
        yield running


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        yield client
