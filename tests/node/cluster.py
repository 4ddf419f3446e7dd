"""Helpers of the real-node tests: the operator's Pods, its Lease, its jobs, and the emulator's view."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from controller.testenv.node import Node
from controller.testenv.nodetools import resolve_node_tools
from controller.testenv.tools import resolve_tools
from emulator.server import Emulator

OPERATOR_NAMESPACE = "vertexops-system"
JOBS_NAMESPACE = "ml-team"
SELECTOR = "app.kubernetes.io/name=vertexops"
LEASE = "vertexops-controller"
PROJECT = "vertexops-test"
UID_LABEL = "vertexops-uid"
# The Secret with the operator's Google credentials (a key file the emulator trusts), as a user off GKE has.
CREDENTIALS_SECRET = "vertexops-google"

# What a user in a hurry would set: short polls, so a simulated hour of tuning passes in seconds.
FAST_OPERATOR = {
    "pollMinSeconds": 0.5,
    "pollMaxSeconds": 1,
    "metricsIntervalSeconds": 0.5,
    "createGraceSeconds": 5,
}


def helm(node: Node, *args: str, values: dict[str, Any] | None = None, timeout: float = 420) -> str:
    """Run Helm against the node's cluster with `values` in a file; on failure, raise with its stderr."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(values or {}, handle)
    try:
        result = subprocess.run(
            [
                str(node.tools.helm),
                *args,
                f"--kubeconfig={node.kubeconfig}",
                *(["-f", handle.name] if values else []),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    finally:
        Path(handle.name).unlink()
    if result.returncode != 0:
        pods = node.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}\n{pods}")
    return result.stdout


def start_node(image_archive: Path) -> Node:
    """A started node with the operator image imported (the tools installed first when missing)."""
    return Node(
        tools=resolve_tools(install=True), node_tools=resolve_node_tools(install=True), images=[image_archive]
    ).start()


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as err:  # the API may be unreachable for a moment during a failover
            last = err
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def get_json(node: Node, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(node.kubectl("get", *args, "-o", "json").stdout)
    return result


def operator_pods(node: Node, namespace: str = OPERATOR_NAMESPACE) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(node, "pods", "-n", namespace, "-l", SELECTOR)["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return pod["status"].get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in conditions
    )


def wait_replicas_ready(
    node: Node, count: int = 2, namespace: str = OPERATOR_NAMESPACE
) -> list[dict[str, Any]]:
    def ready() -> list[dict[str, Any]] | None:
        pods = operator_pods(node, namespace)
        return pods if len(pods) == count and all(is_ready(p) for p in pods) else None

    pods: list[dict[str, Any]] = wait_until(ready, 300, f"{count} Ready operator Pods")
    return pods


def lease_holder(node: Node, namespace: str = OPERATOR_NAMESPACE) -> str:
    lease = get_json(node, "lease", LEASE, "-n", namespace)
    return str(lease["spec"].get("holderIdentity") or "")


def leader_pod(node: Node, namespace: str = OPERATOR_NAMESPACE, timeout: float = 120) -> str:
    """The name of the Pod holding the Lease (the identity is `<host name>_<random>`, the host the Pod).

    Right after a rollout the Lease may still name a Pod of the replaced ReplicaSet, until one of the new
    Pods takes it over when it expires; so this waits until the holder is one of the current Pods and fails
    if none of them leads within `timeout`.
    """

    def current() -> str | None:
        holder = lease_holder(node, namespace)
        names = {p["metadata"]["name"] for p in operator_pods(node, namespace)}
        pod = holder.rsplit("_", 1)[0]
        return pod if holder and pod in names else None

    pod: str = wait_until(current, timeout, "a Lease held by one of the current operator Pods")
    return pod


def apply(node: Node, *docs: dict[str, Any], namespace: str = JOBS_NAMESPACE) -> None:
    node.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))


def wait_ready(node: Node, kind: str, names: list[str], timeout: float = 300) -> None:
    node.kubectl(
        "wait",
        "--for=condition=Ready",
        f"--timeout={timeout:.0f}s",
        "-n",
        JOBS_NAMESPACE,
        *(f"{kind}/{n}" for n in names),
        timeout=timeout + 30,
    )


def uids(node: Node, kind: str, names: list[str]) -> dict[str, str]:
    return {n: get_json(node, kind, n, "-n", JOBS_NAMESPACE)["metadata"]["uid"] for n in names}


def vertex_jobs_per_uid(emulator: Emulator) -> Counter[str]:
    """How many Vertex jobs the emulator holds for each resource UID: more than one is a duplicate create."""
    jobs = emulator.state.vertex.jobs_in(PROJECT, "us-central1")
    return Counter(str((job.spec.get("labels") or {}).get(UID_LABEL, "")) for job in jobs)


def scrape(url: str) -> str:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return response.text
