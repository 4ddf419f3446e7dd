"""Locate (and on request install) what a real test node needs beyond the control plane's tools.

tools/install-node-tools.sh installs it: the Go-built kubelet, kube-controller-manager, kube-scheduler and
kube-proxy in the same versioned cache as kube-apiserver, the Debian packages (containerd, runc, CNI
plugins, iptables), and the pause image archive. The paths here follow that script.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from controller.testenv.tools import REPO_TOOLS_DIR, ToolsMissingError, cache_dir, read_versions

INSTALL_SCRIPT = REPO_TOOLS_DIR / "install-node-tools.sh"
CNI_BIN_DIR = Path("/usr/lib/cni")


@dataclass(frozen=True)
class NodeTools:
    kubelet: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kube_proxy: Path
    containerd: Path
    ctr: Path
    runc: Path
    cni_bin_dir: Path
    pause_archive: Path
    pause_image: str


def _which(name: str) -> Path:
    found = shutil.which(name)
    return Path(found) if found else Path("/usr/bin") / name


def _busybox_version() -> str:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "busybox-static"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or "missing"


def expected_node_tools() -> NodeTools:
    v = read_versions()
    node_dir = cache_dir() / f"kube-node-v{v['KUBERNETES_VERSION']}"
    return NodeTools(
        kubelet=node_dir / "kubelet",
        kube_controller_manager=node_dir / "kube-controller-manager",
        kube_scheduler=node_dir / "kube-scheduler",
        kube_proxy=node_dir / "kube-proxy",
        containerd=_which("containerd"),
        ctr=_which("ctr"),
        runc=_which("runc"),
        cni_bin_dir=CNI_BIN_DIR,
        pause_archive=cache_dir() / f"pause-busybox-{_busybox_version()}" / "pause.tar",
        pause_image=v["PAUSE_IMAGE"],
    )


def _missing(tools: NodeTools) -> list[Path]:
    files = [v for k, v in vars(tools).items() if isinstance(v, Path) and k != "cni_bin_dir"]
    missing = [p for p in files if not p.is_file()]
    if not (tools.cni_bin_dir / "bridge").is_file():
        missing.append(tools.cni_bin_dir / "bridge")
    return missing


def resolve_node_tools(install: bool = False) -> NodeTools:
    tools = expected_node_tools()
    if _missing(tools) and install:
        subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True)
        tools = expected_node_tools()
    missing = _missing(tools)
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise ToolsMissingError(f"missing node tools: {names}; run `bash {INSTALL_SCRIPT}` (as root)")
    return tools
