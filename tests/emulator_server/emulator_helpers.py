"""Shared constants and request bodies for the emulator tests (imported by tests and fixtures)."""

from __future__ import annotations

PROJECT = "demo-project"
NUMBER = "123456789012"
LOCATION = "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
TOKEN = "emulator-test-token"


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
