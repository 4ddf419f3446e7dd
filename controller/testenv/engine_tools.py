"""Locate the GitOps engines that `tools/install-gitops-engines.sh` builds into the versioned tools cache.

Same rules as `controller.testenv.tools`: the versions come from `tools/versions.env`, a variable naming a
binary the user already has wins, and nothing is built behind the caller's back unless asked to.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from controller.testenv.tools import REPO_TOOLS_DIR, ToolsMissingError, cache_dir, read_versions

INSTALL_SCRIPT = REPO_TOOLS_DIR / "install-gitops-engines.sh"


@dataclass(frozen=True)
class ArgoCDTools:
    version: str
    #: the one binary; it acts as the application controller or the repo server by the name it is called by
    binary: Path
    #: the folder holding `git-verify-wrapper.sh`, which the repo server runs from PATH
    bin_dir: Path
    crds: list[Path]
    redis_server: Path


def expected_garbage_collector() -> Path:
    """kube-controller-manager of the API server's Kubernetes version, built with the node tools."""
    v = read_versions()
    return Path(
        os.environ.get("KUBE_CONTROLLER_MANAGER_BIN")
        or cache_dir() / f"kube-node-v{v['KUBERNETES_VERSION']}" / "kube-controller-manager"
    )


@dataclass(frozen=True)
class FluxTools:
    source_version: str
    kustomize_version: str
    source_controller: Path
    kustomize_controller: Path
    crds: list[Path]


def expected_argocd() -> ArgoCDTools:
    v = read_versions()
    folder = cache_dir() / f"argocd-v{v['ARGOCD_VERSION']}"
    binary = Path(os.environ.get("ARGOCD_BIN") or folder / "argocd")
    return ArgoCDTools(
        version=v["ARGOCD_VERSION"],
        binary=binary,
        bin_dir=folder,
        crds=sorted((folder / "crds").glob("*.yaml")),
        redis_server=Path(shutil.which("redis-server") or "/usr/bin/redis-server"),
    )


def expected_flux() -> FluxTools:
    v = read_versions()
    sv, kv = v["FLUX_SOURCE_CONTROLLER_VERSION"], v["FLUX_KUSTOMIZE_CONTROLLER_VERSION"]
    folder = cache_dir() / f"flux-source-v{sv}-kustomize-v{kv}"
    return FluxTools(
        source_version=sv,
        kustomize_version=kv,
        source_controller=Path(os.environ.get("FLUX_SOURCE_CONTROLLER_BIN") or folder / "source-controller"),
        kustomize_controller=Path(
            os.environ.get("FLUX_KUSTOMIZE_CONTROLLER_BIN") or folder / "kustomize-controller"
        ),
        crds=sorted((folder / "crds").glob("*.yaml")),
    )


def _check(engine: str, paths: list[Path], crds: list[Path]) -> None:
    missing = [str(p) for p in paths if not p.is_file()]
    if not crds:
        missing.append(f"{engine} CRDs")
    if missing:
        raise ToolsMissingError(
            f"missing {engine} tools: {', '.join(missing)}; run `bash {INSTALL_SCRIPT} {engine}`"
        )


def resolve_argocd(install: bool = False) -> ArgoCDTools:
    tools = expected_argocd()
    if install and (not tools.binary.is_file() or not tools.crds or not tools.redis_server.is_file()):
        subprocess.run(["bash", str(INSTALL_SCRIPT), "argocd"], check=True)
        tools = expected_argocd()
    _check("argocd", [tools.binary, tools.bin_dir / "git-verify-wrapper.sh", tools.redis_server], tools.crds)
    return tools


def resolve_flux(install: bool = False) -> FluxTools:
    tools = expected_flux()
    if install and not (tools.source_controller.is_file() and tools.kustomize_controller.is_file()):
        subprocess.run(["bash", str(INSTALL_SCRIPT), "flux"], check=True)
        tools = expected_flux()
    _check("flux", [tools.source_controller, tools.kustomize_controller], tools.crds)
    return tools


def resolve_garbage_collector(install: bool = False) -> Path:
    binary = expected_garbage_collector()
    if install and not binary.is_file():
        subprocess.run(["bash", str(INSTALL_SCRIPT), "gc"], check=True)
    if not binary.is_file():
        raise ToolsMissingError(f"missing kube-controller-manager: {binary}; run `bash {INSTALL_SCRIPT} gc`")
    return binary
