"""The node harness itself: a Pod runs, and `stop()` leaves the host exactly as it found it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from controller.testenv.hostnet import WATCHED_SYSCTLS, mounts_under
from controller.testenv.node import Node
from controller.testenv.nodetools import resolve_node_tools
from controller.testenv.tools import resolve_tools

POD = """
apiVersion: v1
kind: Pod
metadata: {name: probe}
spec:
  securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: probe
      image: ghcr.io/vertexops/vertexops:0.1.0
      imagePullPolicy: Never
      command: ["python3", "-c", "import time; print('up', flush=True); time.sleep(3600)"]
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL]}
"""


def _chains() -> set[str]:
    found = set()
    for binary in ("iptables", "ip6tables"):
        for table in ("filter", "nat", "mangle"):
            out = subprocess.run(
                [binary, "-t", table, "-S"], capture_output=True, text=True, check=False
            ).stdout
            found |= {
                f"{binary}/{table}/{line.split()[1]}" for line in out.splitlines() if line.startswith("-N ")
            }
    return found


def _sysctls() -> dict[str, str]:
    return {
        name: Path("/proc/sys", name).read_text().strip()
        for name in WATCHED_SYSCTLS
        if Path("/proc/sys", name).exists()
    }


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_a_pod_runs_and_stop_undoes_everything(image_archive: Path) -> None:
    # The node lock is held from before the first look at the host to after the last, so no other node on
    # this machine can add or remove chains in between.
    node = Node(
        tools=resolve_tools(install=True), node_tools=resolve_node_tools(install=True), images=[image_archive]
    )
    node.acquire_lock()
    try:
        _started_and_stopped_cleanly(node)
    finally:
        node.release_lock()


def _started_and_stopped_cleanly(node: Node) -> None:
    chains, sysctls = _chains(), _sysctls()
    node.start()
    try:
        pids = node.pids()
        workdir, bridge = node.workdir, node.network.bridge
        node.wait_for_default_service_account("default")
        node.kubectl("apply", "-n", "default", "-f", "-", input=POD)
        node.kubectl(
            "wait", "--for=condition=Ready", "pod/probe", "-n", "default", "--timeout=180s", timeout=200
        )
        assert "up" in node.kubectl("logs", "probe", "-n", "default").stdout
        assert (
            bridge in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
        )
        assert mounts_under(workdir), "a running Pod has mounts below the node's folder"
        assert (
            len(pids) >= 7
        )  # etcd, kube-apiserver, containerd, controller-manager, scheduler, kubelet, proxy
    finally:
        node.stop(release_lock=False)
    assert not [p for p in pids if _alive(p)], "a component outlived stop()"
    assert not workdir.exists() and not mounts_under(workdir)
    after = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert bridge not in after
    assert _chains() == chains
    assert _sysctls() == sysctls
    shims = subprocess.run(["pgrep", "-f", str(workdir)], capture_output=True, text=True, check=False).stdout
    assert not shims.strip(), f"processes still name {workdir}: {shims}"
