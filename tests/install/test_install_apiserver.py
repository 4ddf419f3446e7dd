"""Install the chart and the bundle into a real API server and prove the operator works with their rights.

`helm install` and `kubectl apply -f manifests/install.yaml` create everything; the operator then runs as a
process under the installed ServiceAccount's token (see deployed.py) against the emulator, and a TuningJob
must reach Ready. A missing rule in the chart's RBAC fails here, not in a user's cluster. The Pod Security
test creates a Pod from the rendered pod template in a namespace that enforces the restricted standard.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e.support import Resources, is_true, tuning_job
from kubernetes import client as k8s
from prometheus_client.parser import text_string_to_metric_families

from controller.testenv.controlplane import ControlPlane
from controller.testenv.tools import Tools, resolve_tools
from emulator.config import EmulatorConfig
from emulator.server import Emulator
from install.chart import CHART, INSTALL_BUNDLE, dashboard_metric_names, helm, one, render
from install.deployed import DeployedOperator

# Short poll intervals so a simulated hour of tuning passes in seconds (the emulator runs 50x faster).
FAST_OPERATOR = {
    "pollMinSeconds": 0.3,
    "pollMaxSeconds": 1,
    "metricsIntervalSeconds": 0.3,
    "createGraceSeconds": 3,
}
FAST_OPERATOR_FLAGS = (
    "--poll-min-seconds=0.3",
    "--poll-max-seconds=1",
    "--metrics-interval-seconds=0.3",
    "--create-grace-seconds=3",
)
PROJECT = "vertexops-test"


@pytest.fixture(scope="module")
def tools() -> Tools:
    return resolve_tools(install=True)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    config = EmulatorConfig(
        time_scale=50, pending_seconds=60, step_seconds=5, total_steps=20, cancel_seconds=10
    )
    with Emulator(config) as emu:
        yield emu


def _create_namespace(api: k8s.ApiClient, name: str, labels: dict[str, str] | None = None) -> None:
    k8s.CoreV1Api(api).create_namespace({"metadata": {"name": name, "labels": labels or {}}})


def _deployment(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The Deployment as the API server stores it, in its JSON (camelCase) form."""
    result: dict[str, Any] = json.loads(
        cp.kubectl("get", "deployment", name, "-n", namespace, "-o", "json").stdout
    )
    return result


def _run_job_to_ready(resources: Resources, name: str) -> dict[str, Any]:
    resources.create(tuning_job(name, publish={"configMapName": f"{name}-model"}))
    obj = resources.wait_for(name, lambda o: is_true(o, "Ready"), timeout=180, what="Ready")
    assert obj["status"]["state"] == "JOB_STATE_SUCCEEDED"
    published = resources.core.read_namespaced_config_map(f"{name}-model", resources.namespace)
    assert published.data, "the published ConfigMap is empty"
    return obj


def _delete_jobs(resources: Resources, names: list[str]) -> None:
    """Delete while the operator still runs, so it removes its finalizers and nothing lingers."""
    for name in names:
        resources.delete(name)
    for name in names:
        resources.wait_gone(name, timeout=60)


def _assert_no_forbidden(operator: DeployedOperator) -> None:
    log = operator.log_path.read_text(errors="replace")
    assert "forbidden" not in log.lower(), operator.log_tail(60)


# -- helm install --------------------------------------------------------------------------------------------


@dataclass
class HelmRelease:
    name: str
    namespace: str
    watched: str
    deployment: dict[str, Any]
    operator: DeployedOperator
    resources: Resources


@pytest.fixture(scope="module")
def helm_release(
    control_plane: ControlPlane,
    api_client: k8s.ApiClient,
    tools: Tools,
    emulator: Emulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HelmRelease]:
    release = f"vx-{uuid.uuid4().hex[:8]}"
    watched = f"{release}-jobs"
    _create_namespace(api_client, watched)
    values = {
        "google": {"project": PROJECT, "vertexBaseURL": emulator.url, "geminiBaseURL": emulator.url},
        "watchNamespaces": [watched],
        "operator": FAST_OPERATOR,
        "preflight": {"default": "Skip"},  # the datasets named here are not in the emulator's storage
    }
    helm(
        tools.helm,
        "install",
        release,
        str(CHART),
        "--namespace",
        release,
        "--create-namespace",
        "--kubeconfig",
        str(control_plane.kubeconfig),
        values=values,
    )
    deployment = _deployment(control_plane, release, f"{release}-vertexops")
    service_account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = control_plane.service_account_kubeconfig(release, service_account)
    operator = DeployedOperator(kubeconfig, deployment, tmp_path_factory.mktemp("helm") / "operator.log")
    operator.start()
    resources = Resources(api_client, watched)
    created: list[str] = []
    yield HelmRelease(release, release, watched, deployment, operator, resources)
    try:
        created = [
            o["metadata"]["name"]
            for o in resources.api.list_namespaced_custom_object(
                "tuning.vertexops.dev", "v1alpha1", watched, "tuningjobs"
            )["items"]
        ]
        _delete_jobs(resources, created)
    finally:
        operator.stop()
        helm(
            tools.helm,
            "uninstall",
            release,
            "--namespace",
            release,
            "--kubeconfig",
            str(control_plane.kubeconfig),
            check=False,
        )


def test_helm_install_creates_everything_the_chart_renders(
    control_plane: ControlPlane, helm_release: HelmRelease
) -> None:
    kinds = {
        "ServiceAccount": "serviceaccount",
        "Service": "service",
        "Deployment": "deployment",
        "PodDisruptionBudget": "poddisruptionbudget",
        "ConfigMap": "configmap",
        "Role": "role",
        "RoleBinding": "rolebinding",
    }
    listed = control_plane.kubectl(
        "get",
        ",".join(kinds.values()),
        "-A",
        "-l",
        f"app.kubernetes.io/instance={helm_release.name}",
        "-o",
        "json",
    )
    present = {
        (i["kind"], i["metadata"]["namespace"], i["metadata"]["name"])
        for i in json.loads(listed.stdout)["items"]
    }
    full = f"{helm_release.name}-vertexops"
    for kind, namespace, name in [
        ("ServiceAccount", helm_release.namespace, full),
        ("Service", helm_release.namespace, f"{full}-metrics"),
        ("Deployment", helm_release.namespace, full),
        ("PodDisruptionBudget", helm_release.namespace, full),
        ("ConfigMap", helm_release.namespace, f"{full}-dashboard"),
        ("Role", helm_release.watched, full),
        ("RoleBinding", helm_release.watched, full),
        ("Role", helm_release.namespace, f"{full}-leader-election"),
        ("RoleBinding", helm_release.namespace, f"{full}-leader-election"),
    ]:
        assert (kind, namespace, name) in present, f"{kind} {namespace}/{name} missing"


def test_operator_with_the_charts_rights_reconciles_a_tuning_job(
    api_client: k8s.ApiClient, helm_release: HelmRelease
) -> None:
    _run_job_to_ready(helm_release.resources, "chart-rbac")
    lease = k8s.CoordinationV1Api(api_client).read_namespaced_lease(
        "vertexops-controller", helm_release.namespace
    )
    assert lease.spec.holder_identity, "the operator never took the leader Lease in the release namespace"
    events = helm_release.resources.events("chart-rbac")
    assert events, "the operator recorded no events"
    _assert_no_forbidden(helm_release.operator)


def test_every_metric_on_the_dashboard_is_exported(helm_release: HelmRelease) -> None:
    """Scrape the running operator after a job with training metrics; the dashboard must find each series."""
    obj = _run_job_to_ready(helm_release.resources, "dashboard-metrics")
    assert obj["status"]["latestMetrics"]["trainTotalLoss"] > 0
    helm_release.resources.wait_for(
        "dashboard-metrics",
        lambda o: bool(o["status"].get("latestMetrics", {}).get("evalTotalLoss")),
        timeout=30,
    )
    wanted = dashboard_metric_names()
    exported: set[str] = set()
    for family in text_string_to_metric_families(helm_release.operator.metrics()):
        exported |= {sample.name for sample in family.samples}
    assert wanted <= exported, f"on the dashboard but not exported: {sorted(wanted - exported)}"


# -- kubectl apply -f manifests/install.yaml -----------------------------------------------------------------


@pytest.fixture(scope="module")
def bundle_control_plane(tools: Tools) -> Iterator[ControlPlane]:
    """A control plane of its own: on the shared one, vertexops-system/vertexops has the e2e tests' rights."""
    with ControlPlane(tools=tools) as cp:
        yield cp


def test_install_bundle_gives_the_operator_enough_rights(
    bundle_control_plane: ControlPlane, emulator: Emulator, tmp_path: Path
) -> None:
    cp = bundle_control_plane
    cp.kubectl("apply", "-f", str(INSTALL_BUNDLE))
    cp.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/tuningjobs.tuning.vertexops.dev",
        "crd/tunedmodels.tuning.vertexops.dev",
    )
    deployment = _deployment(cp, "vertexops-system", "vertexops")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = cp.service_account_kubeconfig("vertexops-system", account)
    # The bundle has default values: point the operator at the emulator and speed up its polling, as
    # google.vertexBaseURL and the operator.* values would; its rights and other settings are the bundle's.
    operator = DeployedOperator(
        kubeconfig,
        deployment,
        tmp_path / "operator.log",
        extra_args=(
            f"--vertex-base-url={emulator.url}",
            f"--gemini-base-url={emulator.url}",
            f"--project={PROJECT}",
            "--preflight-default=Skip",
            *FAST_OPERATOR_FLAGS,
        ),
    )
    operator.start()
    try:
        with cp.api_client() as api:
            _create_namespace(api, "team-x")
            resources = Resources(api, "team-x")
            _run_job_to_ready(resources, "bundle-rbac")
            lease = k8s.CoordinationV1Api(api).read_namespaced_lease(
                "vertexops-controller", "vertexops-system"
            )
            assert lease.spec.holder_identity
            _delete_jobs(resources, ["bundle-rbac"])
        _assert_no_forbidden(operator)
    finally:
        operator.stop()


# -- Pod Security --------------------------------------------------------------------------------------------


def _pod_from(deployment: dict[str, Any], namespace: str, name: str) -> dict[str, Any]:
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }


def test_pod_template_is_admitted_under_the_restricted_pod_security_standard(
    api_client: k8s.ApiClient, tools: Tools
) -> None:
    namespace = f"pss-{uuid.uuid4().hex[:8]}"
    _create_namespace(
        api_client,
        namespace,
        {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest",
        },
    )
    core = k8s.CoreV1Api(api_client)
    try:
        deployment = one(render(tools.helm, namespace=namespace), "Deployment")
        core.create_namespaced_pod(namespace, _pod_from(deployment, namespace, "vertexops"))

        # The same admission refuses a pod that drops the hardening: the check above can fail.
        weakened = _pod_from(deployment, namespace, "vertexops-weakened")
        weakened["spec"] = json.loads(json.dumps(weakened["spec"]))
        weakened["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
        with pytest.raises(k8s.ApiException) as refused:
            core.create_namespaced_pod(namespace, weakened)
        assert refused.value.status == 403
        assert "violates PodSecurity" in str(refused.value.body)
        assert "allowPrivilegeEscalation" in str(refused.value.body)
    finally:
        core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        core.delete_namespace(namespace)
