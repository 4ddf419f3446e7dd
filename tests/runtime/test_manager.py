"""Manager against the real API server: probes and metrics, reconciles, retries, secondary watches,
leader hand-over between two managers, and a graceful stop (in-process and by a real SIGTERM)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s

from controller.runtime.config import RuntimeConfig
from controller.runtime.kubeapi import CONFIGMAPS, LEASES, KubeApi, ResourceRef
from controller.runtime.manager import Manager, Result
from controller.runtime.mapping import map_by_reference, map_to_owner
from controller.testenv.controlplane import ControlPlane

from .helpers import TIMEOUT, eventually, widget
from .tcpproxy import TcpProxy

REPO = Path(__file__).resolve().parents[2]


class Calls:
    """Thread-safe record of reconcile calls as (kind, key)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[tuple[str, str]] = []

    def add(self, kind: str, key: str) -> None:
        with self._lock:
            self.items.append((kind, key))

    def reconciled(self) -> list[str]:
        with self._lock:
            return [key for _, key in self.items]

    def count(self, key: str) -> int:
        return self.reconciled().count(key)


def runtime_config(namespace: str, **overrides: Any) -> RuntimeConfig:
    settings: dict[str, Any] = {
        "namespaces": (namespace,),
        "bind_address": "127.0.0.1",
        "http_port": 0,
        "lease_namespace": namespace,
        "lease_name": "manager-test",
        "lease_duration_seconds": 2,
        "renew_deadline_seconds": 1.5,
        "retry_period_seconds": 0.2,
        "workers": 2,
        "requeue_base_delay_seconds": 0.01,
        "requeue_max_delay_seconds": 0.2,
        "shutdown_timeout_seconds": 20,
    }
    return RuntimeConfig(**{**settings, **overrides})


@pytest.fixture
def managers() -> Iterator[list[Manager]]:
    """Managers a test started; any still running at the end are shut down."""
    started: list[Manager] = []
    yield started
    for manager in started:
        manager.shutdown(timeout=5)


def start(managers: list[Manager], manager: Manager) -> Manager:
    managers.append(manager)
    manager.start()
    return manager


def http_get(manager: Manager, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{manager.http_port}{path}", timeout=10)


def configmap(namespace: str, name: str, **metadata: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **metadata},
    }


def lease_holder(kube: KubeApi, namespace: str, name: str) -> str | None:
    holder = (kube.get(LEASES.object_path(name, namespace)).get("spec") or {}).get("holderIdentity")
    return str(holder) if holder else None


def test_probes_metrics_and_a_reconcile_for_every_object(
    api_client: k8s.ApiClient, kube: KubeApi, namespace: str, managers: list[Manager]
) -> None:
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "before-start"))
    calls = Calls()

    def reconcile(kind: str, key: str) -> Result:
        calls.add(kind, key)
        return Result()

    manager = Manager(api_client, runtime_config(namespace))
    manager.add_controller("ConfigMap", CONFIGMAPS, reconcile)
    start(managers, manager)

    assert http_get(manager, "/healthz").status_code == 200
    eventually(lambda: http_get(manager, "/readyz").status_code == 200, "/readyz ready")
    eventually(lambda: f"{namespace}/before-start" in calls.reconciled(), "reconcile of the existing object")
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "after-start"))
    eventually(lambda: f"{namespace}/after-start" in calls.reconciled(), "reconcile of a created object")
    assert {kind for kind, _ in calls.items} == {"ConfigMap"}
    assert manager.store("ConfigMap").get(f"{namespace}/after-start") is not None

    metrics = http_get(manager, "/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    assert 'vertexops_reconcile_total{kind="ConfigMap",result="success"}' in text
    assert 'vertexops_workqueue_adds_total{name="ConfigMap"}' in text
    assert 'vertexops_workqueue_depth{name="ConfigMap"}' in text
    assert "vertexops_leader_election_leading 1.0" in text
    assert 'vertexops_informer_relists_total{resource="configmaps"} 1.0' in text
    assert http_get(manager, "/nothing-here").status_code == 404


def test_errors_are_retried_with_backoff_and_requeue_after_polls_again(
    api_client: k8s.ApiClient, kube: KubeApi, namespace: str, managers: list[Manager]
) -> None:
    calls = Calls()

    def reconcile(kind: str, key: str) -> Result:
        calls.add(kind, key)
        name = key.split("/")[1]
        attempts = calls.count(key)
        if name == "flaky" and attempts < 3:
            raise RuntimeError("transient failure")
        if name == "poller" and attempts < 3:
            return Result(requeue_after=0.05)
        return Result()

    manager = Manager(api_client, runtime_config(namespace, leader_election=False))
    manager.add_controller("ConfigMap", CONFIGMAPS, reconcile)
    start(managers, manager)
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "flaky"))
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "poller"))
    eventually(lambda: calls.count(f"{namespace}/flaky") >= 3, "flaky retried until it succeeds")
    eventually(lambda: calls.count(f"{namespace}/poller") >= 3, "poller requeued until done")
    time.sleep(0.5)  # room for any wrong extra requeue to show up
    assert calls.count(f"{namespace}/flaky") == 3
    assert calls.count(f"{namespace}/poller") == 3
    registry = manager.metrics.registry
    assert (
        registry.get_sample_value("vertexops_reconcile_total", {"kind": "ConfigMap", "result": "error"}) == 2
    )
    assert (
        registry.get_sample_value("vertexops_reconcile_total", {"kind": "ConfigMap", "result": "requeue"})
        == 2
    )
    assert registry.get_sample_value("vertexops_workqueue_retries_total", {"name": "ConfigMap"}) == 2


def test_shutdown_lets_the_in_flight_reconcile_finish_and_takes_no_new_keys(
    api_client: k8s.ApiClient, kube: KubeApi, namespace: str, managers: list[Manager]
) -> None:
    calls = Calls()
    entered, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def reconcile(kind: str, key: str) -> Result:
        calls.add(kind, key)
        if key.endswith("/slow"):
            entered.set()
            release.wait(TIMEOUT)
            finished.append(key)
        return Result()

    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "slow"))
    manager = Manager(api_client, runtime_config(namespace, workers=1))
    manager.add_controller("ConfigMap", CONFIGMAPS, reconcile)
    start(managers, manager)
    assert entered.wait(TIMEOUT), "the slow reconcile started"
    assert lease_holder(kube, namespace, "manager-test") is not None

    outcome: list[bool] = []
    stopper = threading.Thread(target=lambda: outcome.append(manager.shutdown()))
    stopper.start()
    eventually(lambda: http_get(manager, "/readyz").status_code == 503, "/readyz reports shutting down")
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "too-late"))
    time.sleep(0.3)
    assert stopper.is_alive(), "shutdown waits for the in-flight reconcile"
    release.set()
    stopper.join(TIMEOUT)
    assert outcome == [True]
    assert finished == [f"{namespace}/slow"]
    assert f"{namespace}/too-late" not in calls.reconciled()
    assert lease_holder(kube, namespace, "manager-test") is None  # released for the next replica


def test_secondary_watches_map_owned_and_referenced_objects_to_their_primary(
    api_client: k8s.ApiClient, kube: KubeApi, namespace: str, widgets: ResourceRef, managers: list[Manager]
) -> None:
    calls = Calls()

    def reconcile(kind: str, key: str) -> Result:
        calls.add(kind, key)
        return Result()

    manager = Manager(api_client, runtime_config(namespace, leader_election=False))
    manager.add_controller("Widget", widgets, reconcile)
    manager.watch(CONFIGMAPS, kind="Widget", map_fn=map_to_owner(widgets.group, "Widget"))
    manager.watch(
        CONFIGMAPS,
        kind="Widget",
        map_fn=map_by_reference(
            manager.store("Widget"), lambda w: [str((w.get("spec") or {}).get("configMapName", ""))]
        ),
    )
    start(managers, manager)

    owner = kube.create(widgets.collection_path(namespace), widget(namespace, "owner"))
    kube.create(widgets.collection_path(namespace), widget(namespace, "referrer", configMapName="settings"))
    kube.create(widgets.collection_path(namespace), widget(namespace, "bystander"))
    for name in ("owner", "referrer", "bystander"):
        eventually(
            lambda name=name: f"{namespace}/{name}" in calls.reconciled(), f"first reconcile of {name}"
        )
    before = {name: calls.count(f"{namespace}/{name}") for name in ("owner", "referrer", "bystander")}

    owner_ref = {
        "apiVersion": widgets.api_version,
        "kind": "Widget",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    kube.create(
        CONFIGMAPS.collection_path(namespace), configmap(namespace, "owned", ownerReferences=[owner_ref])
    )
    eventually(
        lambda: calls.count(f"{namespace}/owner") > before["owner"], "owner reconciled for its ConfigMap"
    )
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "settings"))
    eventually(
        lambda: calls.count(f"{namespace}/referrer") > before["referrer"],
        "referrer reconciled for its ConfigMap",
    )
    time.sleep(0.3)
    assert calls.count(f"{namespace}/bystander") == before["bystander"]


def test_a_follower_is_ready_and_reconciles_only_once_it_leads(
    api_client: k8s.ApiClient, kube: KubeApi, namespace: str, managers: list[Manager]
) -> None:
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "shared"))
    first_calls, second_calls = Calls(), Calls()

    def recording(calls: Calls) -> Any:
        def reconcile(kind: str, key: str) -> Result:
            calls.add(kind, key)
            return Result()

        return reconcile

    first = Manager(api_client, runtime_config(namespace))
    first.add_controller("ConfigMap", CONFIGMAPS, recording(first_calls))
    start(managers, first)
    eventually(lambda: f"{namespace}/shared" in first_calls.reconciled(), "the leader reconciles")

    second = Manager(api_client, runtime_config(namespace))
    second.add_controller("ConfigMap", CONFIGMAPS, recording(second_calls))
    start(managers, second)
    eventually(lambda: http_get(second, "/readyz").status_code == 200, "the follower is ready")
    time.sleep(3 * 2.0)  # several lease durations: the follower must not start reconciling
    assert second_calls.reconciled() == []
    assert not second.leading
    assert second.metrics.registry.get_sample_value("vertexops_leader_election_leading") == 0

    first.shutdown()
    eventually(
        lambda: f"{namespace}/shared" in second_calls.reconciled(), "the follower reconciles after hand-over"
    )
    assert second.leading


def test_losing_the_lease_stops_reconciling_at_once_and_run_returns_1(
    *,
    proxied_api_client: k8s.ApiClient,
    proxy: TcpProxy,
    kube: KubeApi,
    namespace: str,
) -> None:
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "first"))
    calls = Calls()
    lost = threading.Event()

    def reconcile(kind: str, key: str) -> Result:
        calls.add(kind, key)
        return Result()

    manager = Manager(proxied_api_client, runtime_config(namespace), on_lost_leadership=lost.set)
    queue = manager.add_controller("ConfigMap", CONFIGMAPS, reconcile)
    exit_codes: list[int] = []
    runner = threading.Thread(target=lambda: exit_codes.append(manager.run()))
    runner.start()
    try:
        eventually(lambda: f"{namespace}/first" in calls.reconciled(), "the leader reconciles")
        proxy.block()  # renewals fail from now on
        assert lost.wait(TIMEOUT), "the lost lease is reported"
        assert queue.shutting_down  # no key is handed out any more
        runner.join(TIMEOUT)
        assert exit_codes == [1]
        assert not manager.leading
        assert manager.metrics.registry.get_sample_value("vertexops_leader_election_leading") == 0
    finally:
        manager.request_stop()
        runner.join(TIMEOUT)


def test_a_port_in_use_is_reported_with_the_setting_to_change(
    api_client: k8s.ApiClient, namespace: str, managers: list[Manager]
) -> None:
    first = start(managers, Manager(api_client, runtime_config(namespace, leader_election=False)))
    second = Manager(api_client, runtime_config(namespace, leader_election=False, http_port=first.http_port))
    with pytest.raises(OSError, match="http_port"):
        second.start()


def test_sigterm_finishes_the_in_flight_reconcile_releases_the_lease_and_exits_0(
    control_plane: ControlPlane, kube: KubeApi, namespace: str
) -> None:
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "work"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("manager_process.py")),
            str(control_plane.kubeconfig),
            namespace,
            "1.5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env=env,
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(line.strip() for line in process.stdout or []))
    reader.start()
    try:
        eventually(lambda: f"start {namespace}/work" in lines, "the reconcile started")
        process.send_signal(signal.SIGTERM)
        assert process.wait(TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(TIMEOUT)
        reader.join(TIMEOUT)
    assert lines == [f"start {namespace}/work", f"end {namespace}/work"]
    assert lease_holder(kube, namespace, "sigterm-test") is None


def test_the_documented_rbac_is_enough(
    control_plane: ControlPlane,
    api_client: k8s.ApiClient,
    kube: KubeApi,
    namespace: str,
    managers: list[Manager],
) -> None:
    """Run as a ServiceAccount holding exactly the rules the manager's docstring lists, and nothing more."""
    rbac = k8s.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "runtime"},
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]},
                {
                    "apiGroups": ["coordination.k8s.io"],
                    "resources": ["leases"],
                    "verbs": ["get", "create", "update"],
                },
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "runtime"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runtime"},
            "subjects": [{"kind": "ServiceAccount", "name": "operator", "namespace": namespace}],
        },
    )
    kubeconfig = control_plane.service_account_kubeconfig(namespace, "operator")
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "watched"))
    calls = Calls()
    holder: list[Manager] = []

    def reconcile(kind: str, key: str) -> Result:
        calls.add(kind, key)
        obj = holder[0].store(kind).get(key)
        assert obj is not None
        holder[0].events.normal(obj, "Reconciled", "Seen by the operator.")
        holder[0].events.normal(obj, "Reconciled", "Seen by the operator.")
        return Result()

    with control_plane.api_client(kubeconfig) as restricted:
        manager = Manager(restricted, runtime_config(namespace))
        holder.append(manager)
        manager.add_controller("ConfigMap", CONFIGMAPS, reconcile)
        start(managers, manager)
        eventually(lambda: f"{namespace}/watched" in calls.reconciled(), "reconcile as the ServiceAccount")

        def reconciled_events() -> list[tuple[str, int]]:
            items = kube.get(
                f"/api/v1/namespaces/{namespace}/events", [("fieldSelector", "involvedObject.name=watched")]
            )["items"]
            return [(e["reason"], e["count"]) for e in items]

        # Events are sent in the background; the second one is a patch of the first (count 2).
        eventually(lambda: reconciled_events() == [("Reconciled", 2)], "the two events, merged")
        assert lease_holder(kube, namespace, "manager-test") is not None
        assert manager.shutdown()
    assert lease_holder(kube, namespace, "manager-test") is None
