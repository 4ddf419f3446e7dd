"""Fixtures for walking through the README against the test control plane.

The operator runs as its own process under a ServiceAccount with the operator's RBAC, against the emulator,
as in the end-to-end tests. Its ServiceAccount lives in a namespace of its own (not `vertexops-system`), so
the README's `helm install`, which creates the chart's ServiceAccount there, never meets a foreign object.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.dev import upload_sample_datasets
from controller.testenv.controlplane import ControlPlane
from controller.testenv.operator import OperatorProcess, grant_operator_rights
from emulator.config import EmulatorConfig
from emulator.server import Emulator

OPERATOR_HOME = "vertexops-docs-operator"
# The project the operator defaults to; the README's sample sets no spec.projectID.
DEMO_PROJECT = "vertexops-demo"
FAST_OPERATOR_ARGS = (
    "--poll-min-seconds=0.3",
    "--poll-max-seconds=1",
    "--metrics-interval-seconds=0.3",
    "--create-grace-seconds=3",
)


@pytest.fixture(scope="session")
def docs_operator_kubeconfig(control_plane: ControlPlane) -> Path:
    return grant_operator_rights(control_plane, namespace=OPERATOR_HOME)


@pytest.fixture
def docs_emulator() -> Iterator[Emulator]:
    """The Google API emulator, running a tuning job in a few seconds."""
    config = EmulatorConfig(time_scale=50, pending_seconds=60, step_seconds=5, total_steps=30)
    with Emulator(config) as emulator:
        upload_sample_datasets(emulator)
        # The user guide's own manifests name this file (docs/troubleshooting.md's examples).
        train = emulator.state.storage.get("", "vertexops-demo", "support/train.jsonl")
        assert train.data is not None
        emulator.put_object("my-tuning-data", "support/train.jsonl", train.data)
        yield emulator


@pytest.fixture
def readme_operator(
    crds: ControlPlane,
    docs_operator_kubeconfig: Path,
    docs_emulator: Emulator,
    namespace: str,
    tmp_path: Path,
) -> Iterator[OperatorProcess]:
    """The operator watching the test's namespace, talking to the emulator."""
    operator = OperatorProcess(
        docs_operator_kubeconfig,
        docs_emulator.url,
        tmp_path / "operator.log",
        project=DEMO_PROJECT,
        namespaces=[namespace],
        extra_args=FAST_OPERATOR_ARGS,
        preflight_default=None,  # as installed: the sample's datasets are checked, as `vertexops dev` does
    ).start()
    try:
        yield operator
    finally:
        operator.stop()
