"""The chart exactly as a user installs it, with the operator's own image, as Pods on a real node.

One release for the module, in a namespace that enforces the restricted Pod Security Standard; the values
are those a user sets: the project, the private endpoint (the emulator, on the node's address), faster
polls. The tests run in file order: install, jobs, failover, upgrade, uninstall.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.support import tuned_model, tuning_job
from install.chart import CHART
from tenancy.cases import tenant_a

from controller.testenv.node import Node
from emulator.server import Emulator
from node.cluster import (
    CREDENTIALS_SECRET,
    FAST_OPERATOR,
    JOBS_NAMESPACE,
    OPERATOR_NAMESPACE,
    PROJECT,
    apply,
    get_json,
    helm,
    leader_pod,
    operator_pods,
    scrape,
    uids,
    vertex_jobs_per_uid,
    wait_ready,
    wait_replicas_ready,
    wait_until,
)

RELEASE = "vertexops"


def _helm(node: Node, *args: str, values: dict[str, Any] | None = None) -> str:
    return helm(node, *args, values=values)


@pytest.fixture(scope="module")
def release(node: Node, emulator: Emulator) -> Iterator[dict[str, Any]]:
    node.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    node.kubectl("label", "namespace", OPERATOR_NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    node.kubectl("create", "namespace", JOBS_NAMESPACE)
    node.wait_for_default_service_account(OPERATOR_NAMESPACE)
    node.create_google_credentials_secret(emulator.url, OPERATOR_NAMESPACE, CREDENTIALS_SECRET)
    values = {
        "google": {
            "project": PROJECT,
            "vertexBaseURL": emulator.url,
            "geminiBaseURL": emulator.url,
            "credentials": {"secretName": CREDENTIALS_SECRET},
        },
        "operator": FAST_OPERATOR,
        "preflight": {"default": "Skip"},  # the datasets named here are not in the emulator's storage
    }
    _helm(
        node,
        "install",
        RELEASE,
        str(CHART),
        "-n",
        OPERATOR_NAMESPACE,
        "--wait",
        "--timeout=5m",
        values=values,
    )
    yield values


def test_both_replicas_run_ready_as_the_image_user_under_restricted_pod_security(
    node: Node, release: dict[str, Any]
) -> None:
    namespace = get_json(node, "namespace", OPERATOR_NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = wait_replicas_ready(node)
    for pod in pods:
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"] and status["restartCount"] == 0, status
        assert status["image"].endswith(":0.1.0"), status["image"]
        ids = node.kubectl("exec", "-n", OPERATOR_NAMESPACE, pod["metadata"]["name"], "--", "id").stdout
        assert ids.startswith("uid=65532 gid=65532"), ids
    # The image's root filesystem is read-only in the Pod: nothing of it can be written.
    write = node.kubectl(
        "exec",
        "-n",
        OPERATOR_NAMESPACE,
        pods[0]["metadata"]["name"],
        "--",
        "sh",
        "-c",
        "touch /opt/vertexops/x",
        check=False,
    )
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write.stderr


def test_one_replica_holds_the_lease(node: Node, release: dict[str, Any]) -> None:
    leader = leader_pod(node)
    others = [p["metadata"]["name"] for p in operator_pods(node) if p["metadata"]["name"] != leader]
    assert len(others) == 1
    log = node.kubectl("logs", "-n", OPERATOR_NAMESPACE, others[0]).stdout
    assert "leader" in log.lower(), log[-2000:]


def test_the_metrics_service_answers_a_scrape_through_its_cluster_ip(
    node: Node, release: dict[str, Any]
) -> None:
    service = get_json(node, "service", f"{RELEASE}-metrics", "-n", OPERATOR_NAMESPACE)
    cluster_ip, port = service["spec"]["clusterIP"], service["spec"]["ports"][0]["port"]
    wait_until(lambda: node.service_routed(cluster_ip), 120, f"kube-proxy rules for {cluster_ip}")
    text = wait_until(lambda: scrape(f"http://{cluster_ip}:{port}/metrics"), 120, "a scrape")
    assert "# TYPE vertexops_reconcile_total counter" in text, text[:500]


def test_a_tuningjob_and_a_tunedmodel_applied_with_kubectl_reach_ready(
    node: Node, emulator: Emulator, release: dict[str, Any]
) -> None:
    apply(node, tuning_job("support-assistant"), tuned_model("product-one-liners"))
    wait_ready(node, "tuningjob", ["support-assistant"])
    wait_ready(node, "tunedmodel", ["product-one-liners"])
    job = get_json(node, "tuningjob", "support-assistant", "-n", JOBS_NAMESPACE)
    assert job["status"]["state"] == "JOB_STATE_SUCCEEDED"
    assert vertex_jobs_per_uid(emulator)[job["metadata"]["uid"]] == 1


def _bound_user(node: Node, namespace: str, name: str, cluster_role: str) -> Path:
    """A ServiceAccount with a real token, bound in `namespace` to `cluster_role` and nothing else."""
    node.kubectl(
        "create",
        "rolebinding",
        name,
        "-n",
        namespace,
        f"--clusterrole={cluster_role}",
        f"--serviceaccount={namespace}:{name}",
    )
    return node.control_plane.service_account_kubeconfig(namespace, name)


def test_a_user_bound_only_to_the_built_in_edit_role_manages_tuningjobs_and_cannot_touch_a_tenant(
    node: Node, release: dict[str, Any]
) -> None:
    """The chart's roles join the built-in edit and view roles by kube-controller-manager's aggregation."""

    def aggregated(role: str, verb: str) -> bool:
        rules = get_json(node, "clusterrole", role).get("rules") or []
        return any("tuningjobs" in r.get("resources", []) and verb in r.get("verbs", []) for r in rules)

    wait_until(lambda: aggregated("edit", "create") and aggregated("view", "list"), 120, "aggregated roles")
    namespace = f"editors-{uuid.uuid4().hex[:6]}"
    node.kubectl("create", "namespace", namespace)
    # A TuningTenant that covers another namespace: the policy an editor must not change.
    tenant = tenant_a(f"guarded-{uuid.uuid4().hex[:6]}", namespaces=[f"elsewhere-{uuid.uuid4().hex[:6]}"])
    name = tenant["metadata"]["name"]
    node.kubectl("apply", "-f", "-", input=json.dumps(tenant))
    try:
        editor = _bound_user(node, namespace, "editor", "edit")
        created = node.kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            input=json.dumps(tuning_job("by-editor")),
            kubeconfig=editor,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        listed = node.kubectl("get", "tuningjobs", "-n", namespace, "-o", "name", kubeconfig=editor)
        assert listed.stdout.split() == ["tuningjob.tuning.vertexops.dev/by-editor"]
        attempts = {
            "create": ("create", "-f", "-"),
            "patch": (
                "patch",
                "tuningtenant",
                name,
                "--type=merge",
                "-p",
                '{"spec":{"projects":["x-project"]}}',
            ),
            "delete": ("delete", "tuningtenant", name),
        }
        for verb, argv in attempts.items():
            other = tenant_a(f"e-{uuid.uuid4().hex[:6]}", namespaces=[namespace])
            result = node.kubectl(*argv, input=json.dumps(other), kubeconfig=editor, check=False)
            assert result.returncode != 0, f"{verb} of a TuningTenant was allowed to the edit role"
            assert "forbidden" in result.stderr.lower(), (verb, result.stderr)
        assert get_json(node, "tuningtenant", name)["spec"]["projects"] == tenant["spec"]["projects"]

        viewer = _bound_user(node, namespace, "viewer", "view")
        can = {
            verb: node.kubectl(
                "auth", "can-i", verb, "tuningjobs", "-n", namespace, kubeconfig=viewer, check=False
            ).stdout.strip()
            for verb in ("get", "list", "create", "delete")
        }
        assert can == {"get": "yes", "list": "yes", "create": "no", "delete": "no"}, can
    finally:
        node.kubectl("delete", "tuningtenant", name, "--ignore-not-found")


def test_the_leader_deleted_during_creates_the_other_replica_takes_over_without_duplicates(
    node: Node, emulator: Emulator, release: dict[str, Any]
) -> None:
    wait_replicas_ready(node)
    leader = leader_pod(node)
    emulator.set_time_scale(10)
    names = [f"failover-{i}-{uuid.uuid4().hex[:4]}" for i in range(6)]
    apply(node, *(tuning_job(n) for n in names))
    node.kubectl("delete", "pod", leader, "-n", OPERATOR_NAMESPACE, "--grace-period=0", "--force")
    new_leader = wait_until(
        lambda: (pod := leader_pod(node)) != leader and pod, 120, "a new leader", interval=0.5
    )
    assert new_leader != leader
    try:
        wait_ready(node, "tuningjob", names)
    finally:
        emulator.set_time_scale(50)
    counts = vertex_jobs_per_uid(emulator)
    assert {n: counts[u] for n, u in uids(node, "tuningjob", names).items()} == dict.fromkeys(names, 1)
    wait_replicas_ready(node)  # the Deployment replaced the deleted Pod


def test_helm_upgrade_rolls_the_pods_with_jobs_running_and_loses_nothing(
    node: Node, emulator: Emulator, release: dict[str, Any]
) -> None:
    before = {p["metadata"]["name"] for p in wait_replicas_ready(node)}
    names = [f"upgrade-{i}-{uuid.uuid4().hex[:4]}" for i in range(4)]

    def states() -> dict[str, str | None]:
        return {
            n: get_json(node, "tuningjob", n, "-n", JOBS_NAMESPACE).get("status", {}).get("state")
            for n in names
        }

    emulator.set_time_scale(1.5)  # slow enough that the jobs are seen running before they end
    try:
        apply(node, *(tuning_job(n) for n in names))
        wait_until(
            lambda: set(states().values()) == {"JOB_STATE_RUNNING"}, 300, "the jobs running", interval=0.5
        )
        # Google's clock stops: the jobs run on whatever the roll takes, so the new Pods meet them running.
        emulator.set_time_scale(0)
        values = {**release, "operator": {**FAST_OPERATOR, "logLevel": "DEBUG"}}
        _helm(
            node,
            "upgrade",
            RELEASE,
            str(CHART),
            "-n",
            OPERATOR_NAMESPACE,
            "--wait",
            "--timeout=5m",
            values=values,
        )
        after = {p["metadata"]["name"] for p in wait_replicas_ready(node)}
        assert not before & after, f"the Pods were not replaced: {before} -> {after}"
        assert set(states().values()) == {"JOB_STATE_RUNNING"}, states()
        emulator.set_time_scale(50)
        wait_ready(node, "tuningjob", names)
    finally:
        emulator.set_time_scale(50)
    counts = vertex_jobs_per_uid(emulator)
    assert {n: counts[u] for n, u in uids(node, "tuningjob", names).items()} == dict.fromkeys(names, 1)
    env = get_json(node, "deployment", RELEASE, "-n", OPERATOR_NAMESPACE)["spec"]["template"]["spec"][
        "containers"
    ][0]["env"]
    assert {"name": "VERTEXOPS_LOG_LEVEL", "value": "DEBUG"} in env


def test_helm_uninstall_removes_the_operator_and_keeps_the_crds_and_the_resources(
    node: Node, release: dict[str, Any]
) -> None:
    jobs_before = {j["metadata"]["name"] for j in get_json(node, "tuningjobs", "-n", JOBS_NAMESPACE)["items"]}
    assert jobs_before
    _helm(node, "uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait", "--timeout=2m")
    wait_until(lambda: not operator_pods(node), 120, "the operator Pods gone")
    assert node.kubectl("get", "deployment", RELEASE, "-n", OPERATOR_NAMESPACE, check=False).returncode != 0
    crds = {c["metadata"]["name"] for c in get_json(node, "crds")["items"]}
    assert {"tuningjobs.tuning.vertexops.dev", "tunedmodels.tuning.vertexops.dev"} <= crds
    jobs_after = {j["metadata"]["name"] for j in get_json(node, "tuningjobs", "-n", JOBS_NAMESPACE)["items"]}
    assert jobs_after == jobs_before
    # As docs/troubleshooting.md says: the finalizers stay until an operator runs again.
    for name in jobs_after:
        job = get_json(node, "tuningjob", name, "-n", JOBS_NAMESPACE)
        assert job["metadata"].get("finalizers"), name
