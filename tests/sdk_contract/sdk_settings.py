"""The project, location and emulator settings the SDK contract tests share, imported by name."""

from __future__ import annotations

from emulator import EmulatorConfig

PROJECT = "demo-project"
NUMBER = "123456789012"
LOCATION = "us-central1"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        seed=17,
        pending_seconds=60,
        step_seconds=10,
        total_steps=20,
        cancel_seconds=20,
        project_numbers={PROJECT: NUMBER},
    )
