"""Flux's source-controller and kustomize-controller (1.9) apply TuningJobs from a Git repository served over
HTTP on loopback, and wait on them with plain kstatus."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.testenv.controlplane import ControlPlane
from controller.testenv.engine_tools import FluxTools
from controller.testenv.flux import KUSTOMIZE, SOURCE, Flux, ready
from controller.testenv.gitrepo import GitHttpServer, GitRepo
from emulator.server import Emulator
from gitops_engines.conftest import OperatorFactory, make_namespace
from gitops_engines.docs_snippets import yaml_snippet
from gitops_engines.manifests import FLUX_EXAMPLES, load_all, tuning_job
from gitops_engines.test_argocd import get_job

pytestmark = pytest.mark.gitops_engines


@pytest.fixture(scope="module")
def flux(
    cluster: ControlPlane, flux_tools: FluxTools, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flux]:
    with Flux(cluster, flux_tools, tmp_path_factory.mktemp("flux")) as engine:
        yield engine


@pytest.fixture
def git_server(tmp_path: Path) -> Iterator[GitHttpServer]:
    with GitHttpServer(tmp_path / "git") as server:
        yield server


def example(kind: str, name: str) -> dict[str, Any]:
    for doc in load_all(FLUX_EXAMPLES / "vertexops.yaml"):
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return copy.deepcopy(doc)
    raise KeyError(f"{kind}/{name} not in manifests/flux/vertexops.yaml")


def fleet_source(name: str, url: str) -> dict[str, Any]:
    """The example's GitRepository, pointed at the user's fleet repository."""
    source = example("GitRepository", "vertexops")
    source["metadata"]["name"] = name
    source["spec"] = {"interval": "1m", "url": url, "ref": {"branch": "main"}}
    return source


def tuning_kustomization(name: str, source: str, namespace: str, **spec: Any) -> dict[str, Any]:
    """The example's `ml-tuning` Kustomization on the test's repository, with docs/gitops.md's `wait`."""
    kustomization = example("Kustomization", "ml-tuning")
    kustomization["metadata"]["name"] = name
    kustomization["spec"].pop("dependsOn", None)
    kustomization["spec"].update(
        {
            "sourceRef": {"kind": "GitRepository", "name": source},
            "path": "./tuning",
            "targetNamespace": namespace,
            "interval": "1m",
            "retryInterval": "5s",
            **spec,
        }
    )
    # The `wait` settings exactly as docs/gitops.md gives them: plain kstatus, no health check expressions.
    kustomization["spec"].update(yaml_snippet("flux-wait")["spec"])
    return kustomization


def apply(cp: ControlPlane, *objects: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def test_a_waiting_kustomization_is_ready_only_once_the_tuning_job_is_ready(
    *,
    cluster: ControlPlane,
    flux: Flux,
    fleet: GitRepo,
    git_server: GitHttpServer,
    emulator: Emulator,
    tmp_path: Path,
    start_operator: OperatorFactory,
) -> None:
    namespace = make_namespace(cluster)
    start_operator(cluster, emulator, [namespace])
    fleet.write("tuning/support-bot.yaml", tuning_job("support-bot"))
    revision = fleet.commit("Tune the support bot")
    name = f"tuning-{namespace}"
    apply(cluster, fleet_source(name, git_server.url_of(fleet)), tuning_kustomization(name, name, namespace))

    seen: list[tuple[str | None, str | None]] = []

    def job_state_when_ready(ks: dict[str, Any]) -> bool:
        status, _, _ = ready(ks)
        job = get_job(cluster, namespace, "support-bot")
        seen.append((status, (job or {}).get("status", {}).get("state")))
        return status == "True"

    ks = flux.wait(KUSTOMIZE, name, job_state_when_ready, what="Ready", timeout=120)
    assert ks["status"]["lastAppliedRevision"].endswith(revision), ks["status"]
    job = get_job(cluster, namespace, "support-bot")
    assert job is not None and job["status"]["state"] == "JOB_STATE_SUCCEEDED", job
    ready_conditions = [c for c in job["status"]["conditions"] if c["type"] == "Ready"]
    assert ready_conditions[0]["status"] == "True"
    # Flux waited: while the job existed and had not succeeded, the Kustomization was not Ready.
    waiting = [s for s, state in seen if state is not None and state != "JOB_STATE_SUCCEEDED"]
    assert waiting and "True" not in waiting, seen
    assert emulator.count("tuningJobs.create") == 1


def test_a_waiting_kustomization_fails_with_the_jobs_message(
    *,
    cluster: ControlPlane,
    flux: Flux,
    fleet: GitRepo,
    git_server: GitHttpServer,
    emulator: Emulator,
    tmp_path: Path,
    start_operator: OperatorFactory,
) -> None:
    emulator.fail_jobs(
        display_name="doomed*", at_fraction=0.5, message="Tuning failed: dataset row 7 is invalid."
    )
    namespace = make_namespace(cluster)
    start_operator(cluster, emulator, [namespace])
    fleet.write("tuning/doomed.yaml", tuning_job("doomed-run"))
    fleet.commit("A job that will fail")
    name = f"tuning-{namespace}"
    apply(cluster, fleet_source(name, git_server.url_of(fleet)), tuning_kustomization(name, name, namespace))

    ks = flux.wait(KUSTOMIZE, name, lambda k: ready(k)[0] == "False" and ready(k)[1] == "HealthCheckFailed",
                   what="failed its health check", timeout=120)  # fmt: skip
    _, _, message = ready(ks)
    # Flux names the failed object and its kstatus ("failed early due to stalled resources:
    # [TuningJob/NS/doomed-run status: 'Failed']"); the job's own error is in the TuningJob's conditions.
    assert message is not None and f"TuningJob/{namespace}/doomed-run status: 'Failed'" in message, message
    job = get_job(cluster, namespace, "doomed-run")
    assert job is not None and job["status"]["state"] == "JOB_STATE_FAILED"
    assert flux.get(SOURCE, name) is not None
