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

from emulator import Emulator, EmulatorConfig  # noqa: E402

PROJECT = "demo-project"
NUMBER = "123456789012"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
TOKEN = "emulator-test-token"


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


def job_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "baseModel": "gemini-2.5-flash",
        "tunedModelDisplayName": "support-bot",
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://demo-bucket/train.jsonl",
            "validationDatasetUri": "gs://demo-bucket/validation.jsonl",
            "hyperParameters": {"epochCount": "2", "adapterSize": "ADAPTER_SIZE_FOUR"},
        },
        "labels": {"vertexops-dev-uid": "6f1c2a"},
    }
    body.update(overrides)
    return body


def model_body(display_name: str = "Number generator model") -> dict[str, object]:
    return {
        "baseModel": "models/gemini-1.5-flash-001-tuning",
        "displayName": display_name,
        "description": "counts upwards",
        "tuningTask": {
            "hyperparameters": {"epochCount": 5, "batchSize": 4, "learningRate": 0.001},
            "trainingData": {"examples": {"examples": [{"textInput": "1", "output": "2"}] * 6}},
        },
    }
