"""`vertexops dev --node`: the same demo, with the operator running as Pods of the Helm chart on a real node.

The image is built by tools/build-image.sh (cached), the node started by `controller.testenv.node`, the
chart installed with the values a user would give (the project, the emulator as a private endpoint, the
demo namespace, quick polls), in a namespace that enforces the restricted Pod Security Standard. Needs
root and a checkout of the repository (the chart and the image script live there).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from controller.testenv.controlplane import ControlPlaneError
from controller.testenv.node import Node
from controller.testenv.nodetools import resolve_node_tools
from controller.testenv.tools import REPO_TOOLS_DIR, resolve_tools
from emulator.config import EmulatorConfig
from emulator.server import Emulator

CHART = REPO_TOOLS_DIR.parent / "charts" / "vertexops"
OPERATOR_NAMESPACE = "vertexops-system"
CREDENTIALS_SECRET = "vertexops-google"  # noqa: S105 - the name of a Secret, not a secret


class NodeSetupError(ControlPlaneError):
    """The node demo cannot run here; the message says why."""


def build_image() -> Path:
    """Build (or reuse) the operator's image archive and return its path."""
    result = subprocess.run(
        ["bash", str(REPO_TOOLS_DIR / "build-image.sh")], stdout=subprocess.PIPE, text=True, check=True
    )
    return Path(result.stdout.strip().splitlines()[-1])


def helm_install(node: Node, values: dict[str, object]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(values, handle)
    try:
        result = subprocess.run(
            [
                str(node.tools.helm),
                "install",
                "vertexops",
                str(CHART),
                f"--kubeconfig={node.kubeconfig}",
                "-n",
                OPERATOR_NAMESPACE,
                "--wait",
                "--timeout=5m",
                "-f",
                handle.name,
            ],
            check=False,
            capture_output=True,
            text=True,
        )
    finally:
        Path(handle.name).unlink()
    if result.returncode != 0:
        pods = node.kubectl("get", "pods", "-n", OPERATOR_NAMESPACE, "-o", "wide", check=False).stdout
        raise NodeSetupError(f"helm install of the chart failed: {result.stderr.strip()}\n{pods}")


@contextlib.contextmanager
def node_cluster(
    config: EmulatorConfig, namespace: str, project: str, say: Callable[[str], None]
) -> Iterator[tuple[Node, Emulator, str]]:
    """A node with the chart installed, the emulator on the node's address; yields a line of where-is-what."""
    if os.geteuid() != 0:
        raise NodeSetupError("--node starts a kubelet, containerd and a bridge network: run it as root")
    say("building the operator image (once; cached by its inputs)")
    archive = build_image()
    say("starting a cluster with one real node (kubelet, containerd, kube-proxy)")
    with Node(
        tools=resolve_tools(install=True), node_tools=resolve_node_tools(install=True), images=[archive]
    ) as node:
        node.kubectl("create", "namespace", namespace)
        node.kubectl("create", "namespace", OPERATOR_NAMESPACE)
        node.kubectl(
            "label", "namespace", OPERATOR_NAMESPACE, "pod-security.kubernetes.io/enforce=restricted"
        )
        node.wait_for_default_service_account(OPERATOR_NAMESPACE)
        with Emulator(config, host=node.node_ip) as emulator:
            # The operator's Google identity, as off GKE: a key file (one the emulator trusts) in a Secret.
            node.create_google_credentials_secret(emulator.url, OPERATOR_NAMESPACE, CREDENTIALS_SECRET)
            say("installing the Helm chart: two operator Pods, one leader")
            helm_install(
                node,
                {
                    "google": {
                        "project": project,
                        "vertexBaseURL": emulator.url,
                        "geminiBaseURL": emulator.url,
                        "credentials": {"secretName": CREDENTIALS_SECRET},
                    },
                    "watchNamespaces": [namespace],
                    "operator": {
                        "pollMinSeconds": 1,
                        "pollMaxSeconds": 3,
                        "metricsIntervalSeconds": 2,
                        "metricsStatusSeconds": 2,
                    },
                },
            )
            service = json.loads(
                node.kubectl(
                    "get", "service", "vertexops-metrics", "-n", OPERATOR_NAMESPACE, "-o", "json"
                ).stdout
            )
            where = (
                f"Operator log: kubectl logs -n {OPERATOR_NAMESPACE} deploy/vertexops   "
                f"Emulator: {emulator.url}   Metrics: http://{service['spec']['clusterIP']}:8080/metrics"
            )
            yield node, emulator, where
