"""End-to-end fixtures: the emulator in the test process, the operator as a separate process.

The operator runs under a ServiceAccount token bound to exactly the rights in `controller.rbac`, and watches
only the test's namespace so tests do not see each other's resources. Its poll intervals are shortened so a
simulated hour passes in seconds; the emulator's time scale does the same for the jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from controller.testenv.controlplane import ControlPlane
from controller.testenv.operator import OperatorProcess, grant_operator_rights
from e2e.support import Resources
from emulator.config import EmulatorConfig
from emulator.server import Emulator

FAST_OPERATOR_ARGS = (
    "--poll-min-seconds=0.3",
    "--poll-max-seconds=1",
    "--metrics-interval-seconds=0.3",
    "--create-grace-seconds=3",
    "--workers=4",
)


@pytest.fixture(scope="session")
def operator_kubeconfig(crds: ControlPlane) -> Path:
    return grant_operator_rights(crds)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    # 60 simulated seconds pending, 20 steps of 5 s: about 3 s of real time at scale 50.
    config = EmulatorConfig(
        time_scale=50, pending_seconds=60, step_seconds=5, total_steps=20, cancel_seconds=10
    )
    with Emulator(config) as emu:
        yield emu


OperatorFactory = Callable[..., OperatorProcess]


@pytest.fixture
def start_operator(
    operator_kubeconfig: Path, emulator: Emulator, namespace: str, tmp_path: Path
) -> Iterator[OperatorFactory]:
    started: list[OperatorProcess] = []

    def start(*extra: str, wait_ready: bool = True, leader_election: bool = False) -> OperatorProcess:
        proc = OperatorProcess(
            operator_kubeconfig,
            emulator.url,
            tmp_path / f"operator-{len(started)}.log",
            namespaces=[namespace],
            leader_election=leader_election,
            extra_args=[*FAST_OPERATOR_ARGS, *extra],
        )
        started.append(proc)
        return proc.start(wait_ready=wait_ready)

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def resources(api_client: k8s.ApiClient, namespace: str) -> Resources:
    return Resources(api_client, namespace)
