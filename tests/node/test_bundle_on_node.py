"""The plain bundle, `kubectl apply --server-side -f manifests/install.yaml`, on a fresh node of its own.

The bundle sets no Google endpoint, project or credentials; as a user pointing it at a private endpoint
would, the test sets the endpoint variables on the Deployment (`kubectl set env`), gives each resource its
projectID, and mounts a key file from a Secret with the patch docs/credentials.md shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from e2e.support import tuning_job
from install.chart import INSTALL_BUNDLE

from controller.testenv.node import Node
from emulator.server import Emulator
from node.cluster import (
    FAST_OPERATOR,
    JOBS_NAMESPACE,
    OPERATOR_NAMESPACE,
    PROJECT,
    apply,
    get_json,
    leader_pod,
    uids,
    vertex_jobs_per_uid,
    wait_ready,
    wait_replicas_ready,
)

# The patch of docs/credentials.md ("A key file, only if you must").
KEY_FILE_PATCH = {
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "operator",
                        "env": [
                            {
                                "name": "GOOGLE_APPLICATION_CREDENTIALS",
                                "value": "/var/run/secrets/google/key.json",
                            }
                        ],
                        "volumeMounts": [
                            {"name": "google-key", "mountPath": "/var/run/secrets/google", "readOnly": True}
                        ],
                    }
                ],
                "volumes": [{"name": "google-key", "secret": {"secretName": "vertexops-google-key"}}],
            }
        }
    }
}


@pytest.fixture(scope="module")
def bundle(node: Node, emulator: Emulator) -> Iterator[None]:
    node.kubectl("apply", "--server-side", "-f", str(INSTALL_BUNDLE))
    node.kubectl("create", "namespace", JOBS_NAMESPACE)
    node.create_google_credentials_secret(
        emulator.url, OPERATOR_NAMESPACE, "vertexops-google-key", "key.json"
    )
    node.kubectl(
        "patch",
        "deployment",
        "vertexops",
        "-n",
        OPERATOR_NAMESPACE,
        "--type=strategic",
        "--patch",
        yaml.safe_dump(KEY_FILE_PATCH),
    )
    fast = [
        f"VERTEXOPS_POLL_MIN_SECONDS={FAST_OPERATOR['pollMinSeconds']}",
        f"VERTEXOPS_POLL_MAX_SECONDS={FAST_OPERATOR['pollMaxSeconds']}",
        f"VERTEXOPS_METRICS_INTERVAL_SECONDS={FAST_OPERATOR['metricsIntervalSeconds']}",
        f"VERTEXOPS_CREATE_GRACE_SECONDS={FAST_OPERATOR['createGraceSeconds']}",
    ]
    node.kubectl(
        "set",
        "env",
        "deployment/vertexops",
        "-n",
        OPERATOR_NAMESPACE,
        f"VERTEXOPS_VERTEX_BASE_URL={emulator.url}",
        f"VERTEXOPS_GEMINI_BASE_URL={emulator.url}",
        "VERTEXOPS_PREFLIGHT_DEFAULT=Skip",
        *fast,
    )
    node.kubectl(
        "rollout", "status", "deployment/vertexops", "-n", OPERATOR_NAMESPACE, "--timeout=240s", timeout=300
    )
    yield


def test_the_bundle_runs_two_ready_replicas_with_one_leader(node: Node, bundle: None) -> None:
    namespace = get_json(node, "namespace", OPERATOR_NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = wait_replicas_ready(node)
    assert leader_pod(node) in {p["metadata"]["name"] for p in pods}


def test_a_tuningjob_reaches_ready_with_one_create(node: Node, emulator: Emulator, bundle: None) -> None:
    names = ["bundle-job-1", "bundle-job-2"]
    apply(node, *(tuning_job(n, projectID=PROJECT) for n in names))
    wait_ready(node, "tuningjob", names)
    counts = vertex_jobs_per_uid(emulator)
    assert {n: counts[u] for n, u in uids(node, "tuningjob", names).items()} == dict.fromkeys(names, 1)


def test_the_bundles_image_is_the_one_built(node: Node, image_archive: Path, bundle: None) -> None:
    deployment = get_json(node, "deployment", "vertexops", "-n", OPERATOR_NAMESPACE)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image in node.ctr("images", "list", "--quiet").stdout.split()
