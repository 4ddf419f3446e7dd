"""Fixtures for the reliability scenarios: the operator in its own process under its ServiceAccount token,
the emulator in the test process, both on loopback, against the session's real kube-apiserver.

The scenario that stops kube-apiserver builds its own control plane (see test_apiserver_faults.py) so it
never disturbs the shared one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.support import Resources
from kubernetes import client as k8s

from controller.testenv.controlplane import ControlPlane
from controller.testenv.operator import grant_operator_rights
from emulator.config import EmulatorConfig
from emulator.server import Emulator
from reliability.support import Operators


@pytest.fixture(scope="session")
def operator_kubeconfig(crds: ControlPlane) -> Path:
    return grant_operator_rights(crds)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    # 60 simulated seconds pending and 20 steps of 5 s: about 3 s of real time at scale 50.
    config = EmulatorConfig(
        time_scale=50, pending_seconds=60, step_seconds=5, total_steps=20, cancel_seconds=10, seed=7
    )
    with Emulator(config) as emu:
        yield emu


@pytest.fixture
def operators(
    operator_kubeconfig: Path, emulator: Emulator, namespace: str, tmp_path: Path
) -> Iterator[Operators]:
    fleet = Operators(operator_kubeconfig, emulator, tmp_path, [namespace])
    yield fleet
    fleet.stop_all()


@pytest.fixture
def resources(api_client: k8s.ApiClient, namespace: str) -> Resources:
    return Resources(api_client, namespace)
