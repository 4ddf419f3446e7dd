"""Fixtures for the Google client contract tests: a fresh emulator per test and clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google_helpers import FAST_RETRY, PROJECT, TOKEN, Calls

from controller.google import GeminiClient, StaticTokenAuth, VertexClient
from emulator import Emulator, EmulatorConfig


@pytest.fixture
def emu() -> Iterator[Emulator]:
    config = EmulatorConfig(
        seed=7,
        pending_seconds=30,
        step_seconds=10,
        total_steps=20,
        cancel_seconds=5,
        gemini_step_seconds=1,
        gemini_total_steps=10,
        project_numbers={PROJECT: "123456789012"},
        valid_credentials=[TOKEN],
    )
    with Emulator(config) as running:
        yield running


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def vertex(emu: Emulator, calls: Calls) -> Iterator[VertexClient]:
    with VertexClient(
        base_url=emu.url, auth=StaticTokenAuth(TOKEN), retry=FAST_RETRY, observer=calls
    ) as client:
        yield client


@pytest.fixture
def gemini(emu: Emulator, calls: Calls) -> Iterator[GeminiClient]:
    with GeminiClient(
        base_url=emu.url, auth=StaticTokenAuth(TOKEN), retry=FAST_RETRY, observer=calls
    ) as client:
        yield client
