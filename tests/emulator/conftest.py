"""Fixtures for the emulator tests: a fresh emulator and a raw HTTP client that speaks to it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# This folder is named like the package it tests; with `tests/` on sys.path it would shadow `emulator` as a
# namespace package unless the repository root is on sys.path as well.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from emulator_helpers import NUMBER, PROJECT, TOKEN  # noqa: E402

from emulator import Emulator, EmulatorConfig  # noqa: E402


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
        yield running


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30) as client:
        yield client
