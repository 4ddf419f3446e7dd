"""Real Argo CD and Flux, a Git repository, the operator and the emulator, on control planes of their own.

Each module gets a fresh control plane, so what one engine leaves behind (its CRDs, its namespace, the
operator's CRDs) never changes what another module sees. Each test gets its own namespace, fleet
repository and emulator, and an operator that watches only that namespace.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from controller.testenv.controlplane import ControlPlane
from controller.testenv.engine_process import apply_crds
from controller.testenv.engine_tools import (
    ArgoCDTools,
    FluxTools,
    resolve_argocd,
    resolve_flux,
    resolve_garbage_collector,
)
from controller.testenv.garbage_collector import GarbageCollector
from controller.testenv.gitrepo import GitRepo
from controller.testenv.operator import OperatorProcess, grant_operator_rights
from controller.testenv.tools import Tools, resolve_tools
from emulator.config import EmulatorConfig
from emulator.server import Emulator

ROOT = Path(__file__).resolve().parents[2]
PROJECT_CRDS = sorted((ROOT / "crds").glob("*.yaml"))

FAST_OPERATOR_ARGS = (
    "--poll-min-seconds=0.3",
    "--poll-max-seconds=1",
    "--metrics-interval-seconds=0.3",
    "--create-grace-seconds=3",
    "--workers=4",
)


@pytest.fixture(scope="session")
def tools() -> Tools:
    return resolve_tools(install=True)


@pytest.fixture(scope="session")
def argocd_tools() -> ArgoCDTools:
    return resolve_argocd(install=True)


@pytest.fixture(scope="session")
def flux_tools() -> FluxTools:
    return resolve_flux(install=True)


@pytest.fixture(scope="session")
def gc_binary() -> Path:
    return resolve_garbage_collector(install=True)


@contextlib.contextmanager
def engine_control_plane(tools: Tools, gc_binary: Path) -> Iterator[ControlPlane]:
    """A control plane as an engine finds it in any cluster: with the garbage collector, which finishes
    the deletions the engines start when they prune."""
    with ControlPlane(tools=tools) as cp, GarbageCollector(cp, gc_binary):
        yield cp


@pytest.fixture(scope="module")
def cluster(tools: Tools, gc_binary: Path) -> Iterator[ControlPlane]:
    """A control plane of this module's own, with the vertexops CRDs."""
    with engine_control_plane(tools, gc_binary) as cp:
        apply_crds(cp, PROJECT_CRDS)
        yield cp


def make_namespace(cp: ControlPlane, name: str | None = None) -> str:
    name = name or f"t-{uuid.uuid4().hex[:10]}"
    with cp.api_client() as api:
        k8s.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def fast_emulator(**overrides: object) -> Emulator:
    """Jobs of about 20 s: 60 simulated seconds pending, 100 steps of 5 s, at 30x (long enough for an engine
    to be seen reporting the running job, short enough for a test)."""
    settings: dict[str, object] = {
        "time_scale": 30,
        "pending_seconds": 60,
        "step_seconds": 5,
        "total_steps": 100,
        "cancel_seconds": 10,
        **overrides,
    }
    return Emulator(EmulatorConfig(**settings))  # type: ignore[arg-type]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with fast_emulator() as emu:
        yield emu


@pytest.fixture
def fleet(tmp_path: Path) -> GitRepo:
    """The user's fleet repository, which the engines read and the test commits to."""
    return GitRepo(tmp_path / "git" / "fleet")


OperatorFactory = Callable[[ControlPlane, Emulator, list[str]], OperatorProcess]


@pytest.fixture
def start_operator(tmp_path: Path) -> Iterator[OperatorFactory]:
    """Start `vertexops run` for some namespaces of a control plane; every one started is stopped after."""
    started: list[OperatorProcess] = []

    def start(cp: ControlPlane, emulator: Emulator, namespaces: list[str]) -> OperatorProcess:
        kubeconfig = grant_operator_rights(cp)
        proc = OperatorProcess(
            kubeconfig,
            emulator.url,
            tmp_path / f"operator-{len(started)}.log",
            namespaces=namespaces,
            extra_args=list(FAST_OPERATOR_ARGS),
        )
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()
