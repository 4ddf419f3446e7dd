"""Shared constants and request bodies for the Google client tests (imported by tests and fixtures)."""

from __future__ import annotations

from controller.google import RetryPolicy

PROJECT = "demo-project"
LOCATION = "us-central1"
TOKEN = "test-token-1"  # accepted by the emulator fixture below

# Tiny delays so retry tests take milliseconds; generous attempts so a retry is visible.
FAST_RETRY = RetryPolicy(
    max_attempts=4, initial_delay=0.001, max_delay=0.01, total_timeout=10.0, max_retry_after=0.05
)


class Calls:
    """Collects observer calls: (api, method, status, seconds)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, int | None, float]] = []

    def __call__(self, api: str, method: str, status: int | None, seconds: float) -> None:
        self.items.append((api, method, status, seconds))

    def statuses(self, method: str) -> list[int | None]:
        return [status for _, m, status, _ in self.items if m == method]


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


def model_body(display_name: str = "Number generator", examples: int = 8) -> dict[str, object]:
    return {
        "baseModel": "models/gemini-1.5-flash-001-tuning",
        "displayName": display_name,
        "description": "counts upwards",
        "tuningTask": {
            "hyperparameters": {"epochCount": 2, "batchSize": 4, "learningRate": 0.001},
            "trainingData": {
                "examples": {
                    "examples": [{"textInput": str(i), "output": str(i + 1)} for i in range(examples)]
                }
            },
        },
    }
