"""Locate (and on request install) the binaries a local control plane needs.

The versions live in `tools/versions.env`, shared with `tools/install-tools.sh`, so the shell script that
builds the binaries and the Python code that finds them never disagree about a version or a cache folder.
Resolution order per tool: an explicit `TEST_ASSET_*` variable, then `KUBEBUILDER_ASSETS` (the layout
controller-runtime's envtest uses), then our versioned cache.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"
VERSIONS_FILE = REPO_TOOLS_DIR / "versions.env"
INSTALL_SCRIPT = REPO_TOOLS_DIR / "install-tools.sh"


class ToolsMissingError(RuntimeError):
    """A binary is neither supplied by the user nor in the cache."""


@dataclass(frozen=True)
class Tools:
    kube_apiserver: Path
    etcd: Path
    kubectl: Path
    helm: Path
    helm3: Path


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    versions: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip()
    return versions


def cache_dir() -> Path:
    explicit = os.environ.get("VERTEXOPS_TOOLS_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vertexops" / "tools"


def _given(name: str, env_var: str | None) -> Path | None:
    if env_var and os.environ.get(env_var):
        return Path(os.environ[env_var])
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets and (Path(assets) / name).exists():
        return Path(assets) / name
    return None


def expected_tools() -> Tools:
    """The paths the tools have (or will have once installed), without checking they exist."""
    v = read_versions()
    cache = cache_dir()
    kubectl_dir = cache / f"kubectl-v{v['KUBECTL_VERSION']}-helm-v{v['HELM4_VERSION']}"
    return Tools(
        kube_apiserver=_given("kube-apiserver", "TEST_ASSET_KUBE_APISERVER")
        or cache / f"kube-apiserver-v{v['KUBERNETES_VERSION']}" / "kube-apiserver",
        etcd=_given("etcd", "TEST_ASSET_ETCD") or cache / f"etcd-v{v['ETCD_VERSION']}" / "etcd",
        kubectl=_given("kubectl", "TEST_ASSET_KUBECTL") or kubectl_dir / "kubectl",
        helm=kubectl_dir / "helm",
        helm3=cache / f"helm-v{v['HELM3_VERSION']}" / "helm",
    )


def resolve_tools(install: bool = False) -> Tools:
    """Return the tool paths, installing missing ones first when `install` is set."""
    tools = expected_tools()
    missing = [p for p in vars(tools).values() if not Path(p).is_file()]
    if missing and install:
        install_tools()
        tools = expected_tools()
        missing = [p for p in vars(tools).values() if not Path(p).is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise ToolsMissingError(f"missing tools: {names}; run `bash {INSTALL_SCRIPT}` (or `vertexops tools`)")
    return tools


def install_tools() -> None:
    subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--print", action="store_true", help="only print the resolved paths, install nothing")


def run(args: argparse.Namespace) -> int:
    try:
        tools = resolve_tools(install=not args.print)
    except ToolsMissingError as err:
        print(err, file=sys.stderr)
        return 1
    for name, path in vars(tools).items():
        print(f"{name}={path}")
    return 0
