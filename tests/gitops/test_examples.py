"""The Argo CD and Flux examples: first-install ordering, paths that exist, values the chart accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from install.chart import render

from controller.testenv.tools import Tools, resolve_tools

ROOT = Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "manifests" / "argocd"
FLUX = ROOT / "manifests" / "flux"
HEALTH = ARGOCD / "health" / "tuning.vertexops.dev"


def load(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_name(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.fixture(scope="module")
def tools() -> Tools:
    return resolve_tools(install=True)


def test_argocd_cm_snippet_holds_each_health_check_verbatim() -> None:
    [cm] = load(ARGOCD / "argocd-cm-health.yaml")
    assert (cm["kind"], cm["metadata"]["name"], cm["metadata"]["namespace"]) == (
        "ConfigMap",
        "argocd-cm",
        "argocd",
    )
    for kind in ("TuningJob", "TunedModel"):
        key = f"resource.customizations.health.tuning.vertexops.dev_{kind}"
        assert cm["data"][key] == (HEALTH / kind / "health.lua").read_text()
    assert (
        "resource.customizations.health.tuning.vertexops.dev_TuningJob"
        in (ROOT / "docs" / "gitops.md").read_text()
    )


def test_argocd_applications_install_the_operator_before_the_tuning_jobs(tools: Tools) -> None:
    [operator] = load(ARGOCD / "vertexops-application.yaml")
    [tuning] = load(ARGOCD / "tuning-application.yaml")
    wave = "argocd.argoproj.io/sync-wave"
    assert int(operator["metadata"]["annotations"][wave]) < int(tuning["metadata"]["annotations"][wave])
    assert "ServerSideApply=true" in operator["spec"]["syncPolicy"]["syncOptions"]
    options = tuning["spec"]["syncPolicy"]["syncOptions"]
    assert {"SkipDryRunOnMissingResource=true", "ServerSideApply=true"} <= set(options)
    assert tuning["spec"]["syncPolicy"]["automated"]["prune"] is False
    source = operator["spec"]["source"]
    assert (ROOT / source["path"] / "Chart.yaml").is_file()
    # The example's values pass the chart's schema and land where they should.
    docs = render(tools.helm, source["helm"]["valuesObject"], release=source["helm"]["releaseName"])
    [account] = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert "iam.gke.io/gcp-service-account" in account["metadata"]["annotations"]


def test_flux_kustomizations_wait_on_each_other_in_order(tools: Tools) -> None:
    docs = load(FLUX / "vertexops.yaml")
    kustomizations = by_name(docs, "Kustomization")
    assert set(kustomizations) == {"vertexops-crds", "vertexops", "ml-tuning"}

    def depends(name: str) -> list[str]:
        return [d["name"] for d in kustomizations[name]["spec"].get("dependsOn", [])]

    assert depends("vertexops-crds") == []
    assert depends("vertexops") == ["vertexops-crds"]
    assert depends("ml-tuning") == ["vertexops"]
    crds = kustomizations["vertexops-crds"]["spec"]
    assert crds["prune"] is False and crds["wait"] is True
    assert crds["sourceRef"] == {"kind": "GitRepository", "name": "vertexops"}
    assert sorted((ROOT / crds["path"]).glob("*.yaml")), f"{crds['path']} holds no CRDs"
    assert kustomizations["ml-tuning"]["spec"]["prune"] is False
    assert "vertexops" in by_name(docs, "GitRepository")


def test_flux_helmrelease_skips_crds_and_its_values_fit_the_chart(tools: Tools) -> None:
    [release] = by_name(load(FLUX / "helmrelease.yaml"), "HelmRelease").values()
    spec = release["spec"]
    assert spec["install"]["crds"] == "Skip" and spec["upgrade"]["crds"] == "Skip"
    assert (ROOT / spec["chart"]["spec"]["chart"] / "Chart.yaml").is_file()
    docs = render(tools.helm, spec["values"], namespace=release["metadata"]["namespace"])
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VERTEXOPS_PROJECT"] == spec["values"]["google"]["project"]
