"""The operator installed through the engines, from the examples in manifests/argocd and manifests/flux,
against the chart and the bundle in this repository (copied into a Git repository the engine reads), and
with the Helm and kubectl commands of docs/gitops.md as they are written there.

There is no kubelet here, so the operator's Pods never start: the tests check what the engines can be
asked for on a control plane, that the sync succeeds and every object of the chart or bundle is in the
cluster as the user's install would have it.
"""

from __future__ import annotations

import copy
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.testenv.argocd import ArgoCD, sync_status
from controller.testenv.controlplane import ControlPlane
from controller.testenv.engine_tools import ArgoCDTools, FluxTools
from controller.testenv.flux import KUSTOMIZE, Flux, ready
from controller.testenv.gitrepo import GitHttpServer, GitRepo
from controller.testenv.tools import Tools
from gitops_engines.conftest import engine_control_plane
from gitops_engines.docs_snippets import commands, run_shell, snippet
from gitops_engines.manifests import ARGOCD_EXAMPLES, FLUX_EXAMPLES, ROOT, load_all

pytestmark = pytest.mark.gitops_engines

OPERATOR_OBJECTS = (
    ("crd", "tuningjobs.tuning.vertexops.dev"),
    ("crd", "tunedmodels.tuning.vertexops.dev"),
    ("namespace", "vertexops-system"),
    ("deployment -n vertexops-system", "vertexops"),
    ("serviceaccount -n vertexops-system", "vertexops"),
    ("clusterrole", "vertexops"),
)


@pytest.fixture
def cp(tools: Tools, gc_binary: Path) -> Iterator[ControlPlane]:
    with engine_control_plane(tools, gc_binary) as control_plane:
        yield control_plane


def established(cp: ControlPlane, crd: str) -> bool:
    jsonpath = "jsonpath={.status.conditions[?(@.type=='Established')].status}"
    return cp.kubectl("get", "crd", crd, "-o", jsonpath, check=False).stdout.strip() == "True"


def assert_operator_installed(cp: ControlPlane) -> None:
    for kind, name in OPERATOR_OBJECTS:
        result = cp.kubectl("get", *kind.split(), name, "-o", "name", check=False)
        assert result.returncode == 0, f"{kind} {name} missing: {result.stderr}"
    assert established(cp, "tuningjobs.tuning.vertexops.dev")


def test_argocd_installs_the_operator_from_the_chart_with_the_example_application(
    *, cp: ControlPlane, tools: Tools, argocd_tools: ArgoCDTools, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "git" / "vertexops")
    repo.copy_in(ROOT / "charts" / "vertexops", "charts/vertexops")
    revision = repo.commit("The chart")
    [app] = load_all(ARGOCD_EXAMPLES / "vertexops-application.yaml")
    app = copy.deepcopy(app)
    app["spec"]["source"].update({"repoURL": repo.url, "targetRevision": "main"})
    with ArgoCD(cp, argocd_tools, tmp_path / "argocd", extra_path=(tools.helm3.parent,)) as argo:
        cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(app))
        done = argo.wait_application(
            "vertexops",
            lambda a: (
                sync_status(a) == "Synced"
                and a["status"].get("operationState", {}).get("phase") == "Succeeded"
            ),
            "Synced",
            timeout=180,
        )
        assert done["status"]["sync"]["revision"] == revision
        assert_operator_installed(cp)
        labels = cp.kubectl(
            "get", "namespace", "vertexops-system", "-o", "jsonpath={.metadata.labels}"
        ).stdout
        assert '"pod-security.kubernetes.io/enforce":"restricted"' in labels

        # Only the garbage collector runs of kube-controller-manager, and no kubelet: nothing writes the
        # status of the Deployment (deployment controller) or the PodDisruptionBudget (disruption
        # controller), so Argo CD keeps both Progressing. Everything else turns Healthy (the CRDs once
        # Established, which Argo CD sees a moment after the sync) or has no health of its own.
        waiting_for_controllers = {("Deployment", "vertexops"), ("PodDisruptionBudget", "vertexops")}

        def healthy_but_the_workload(a: dict[str, Any]) -> bool:
            resources = a["status"].get("resources", [])
            return bool(resources) and all(
                (r.get("health") or {}).get("status") in (None, "Healthy")
                for r in resources
                if (r["kind"], r["name"]) not in waiting_for_controllers
            )

        settled = argo.wait_application("vertexops", healthy_but_the_workload, "Healthy", timeout=120)
        waiting = {
            (r["kind"], r["name"]): r["health"]["status"]
            for r in settled["status"]["resources"]
            if (r["kind"], r["name"]) in waiting_for_controllers
        }
        assert waiting == dict.fromkeys(waiting_for_controllers, "Progressing"), waiting
        crd_health = {
            r["name"]: r["health"]["status"]
            for r in settled["status"]["resources"]
            if r["kind"] == "CustomResourceDefinition"
        }
        assert crd_health and set(crd_health.values()) == {"Healthy"}, crd_health


def flux_example(name: str, kind: str, obj_name: str) -> dict[str, Any]:
    for doc in load_all(FLUX_EXAMPLES / name):
        if doc["kind"] == kind and doc["metadata"]["name"] == obj_name:
            return copy.deepcopy(doc)
    raise KeyError(obj_name)


def test_flux_installs_the_operator_from_the_plain_bundle_with_the_example_kustomization(
    *, cp: ControlPlane, flux_tools: FluxTools, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "git" / "vertexops")
    repo.copy_in(ROOT / "manifests" / "install.yaml", "manifests/install.yaml")
    # What the example's ignore rules must keep out of the artifact.
    repo.copy_in(ROOT / "manifests" / "argocd", "manifests/argocd")
    repo.copy_in(ROOT / "manifests" / "examples", "manifests/examples")
    revision = repo.commit("The bundle")
    source = flux_example("vertexops-bundle.yaml", "GitRepository", "vertexops-bundle")
    kustomization = flux_example("vertexops-bundle.yaml", "Kustomization", "vertexops")
    # No kubelet here: the Deployment never becomes available, so wait only for the apply.
    kustomization["spec"]["wait"] = False
    with GitHttpServer(tmp_path / "git") as git, Flux(cp, flux_tools, tmp_path / "flux") as flux:
        source["spec"].pop("ref")
        source["spec"].update({"url": git.url_of(repo), "ref": {"branch": "main"}})
        cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([source, kustomization]))
        # Ready and the applied revision may come in separate status updates: wait for both.
        done = flux.wait(
            KUSTOMIZE,
            "vertexops",
            lambda k: ready(k)[0] == "True" and "lastAppliedRevision" in (k.get("status") or {}),
            what="Ready with a lastAppliedRevision",
            timeout=180,
        )
        assert done["status"]["lastAppliedRevision"].endswith(revision)
        assert_operator_installed(cp)
        applied = {entry["id"] for entry in done["status"]["inventory"]["entries"]}
        assert not any("Application" in entry or "TuningJob" in entry for entry in applied), applied


def test_the_pages_helm_commands_install_the_chart_and_upgrade_its_crds(
    *, cp: ControlPlane, tools: Tools
) -> None:
    """docs/gitops.md's Helm section, run as written: the install, then the CRD upgrade step."""
    tools_dirs = (tools.helm.parent, tools.kubectl.parent)
    run_shell("helm-install", cp.kubeconfig, tools_dirs)
    assert_operator_installed(cp)
    account = cp.kubectl(
        "get",
        "serviceaccount",
        "-n",
        "vertexops-system",
        "vertexops",
        "-o",
        "jsonpath={.metadata.annotations}",
    ).stdout
    assert "vertexops@my-project.iam.gserviceaccount.com" in account
    applied = run_shell("helm-crds-upgrade", cp.kubeconfig, tools_dirs).stdout
    assert (
        "customresourcedefinition.apiextensions.k8s.io/tuningjobs.tuning.vertexops.dev serverside-applied"
        in (applied)
    ), applied


def test_the_pages_schema_error_is_what_helm_says(*, cp: ControlPlane, tools: Tools) -> None:
    """The misspelt value of docs/gitops.md fails with the error the page quotes."""
    [argv] = commands("helm-schema-error")
    assert argv[0] == "helm"
    result = subprocess.run(
        [str(tools.helm), *argv[1:]],
        cwd=ROOT,
        env={**os.environ, "KUBECONFIG": str(cp.kubeconfig)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    quoted = [ln for ln in snippet("helm-schema-error").splitlines() if ln and not ln.startswith("$ ")]
    said = result.stderr.splitlines()
    assert quoted and all(line in said for line in quoted), result.stderr


def test_the_pages_plain_install_command_installs_the_operator(*, cp: ControlPlane, tools: Tools) -> None:
    run_shell("plain-install", cp.kubeconfig, (tools.kubectl.parent,))
    assert_operator_installed(cp)
