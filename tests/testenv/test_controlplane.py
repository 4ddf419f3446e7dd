"""The local control plane is a real API server: CRDs, watches, RBAC and versions behave as in a cluster."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client as k8s
from kubernetes import watch

from controller.testenv.controlplane import ControlPlane
from controller.testenv.tools import read_versions, resolve_tools

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.testenv.vertexops.dev
spec:
  group: testenv.vertexops.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
"""


def _wait_established(control_plane: ControlPlane, name: str) -> None:
    control_plane.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")


def test_crd_applied_with_kubectl_is_served_listed_and_watched(
    control_plane: ControlPlane, namespace: str
) -> None:
    control_plane.kubectl("apply", "-f", "-", input=WIDGET_CRD)
    _wait_established(control_plane, "widgets.testenv.vertexops.dev")

    with control_plane.api_client() as api:
        custom = k8s.CustomObjectsApi(api)
        seen: list[tuple[str, str]] = []
        start_rv = custom.list_namespaced_custom_object("testenv.vertexops.dev", "v1", namespace, "widgets")[
            "metadata"
        ]["resourceVersion"]

        def watch_widgets() -> None:
            w = watch.Watch()
            for event in w.stream(
                custom.list_namespaced_custom_object,
                "testenv.vertexops.dev",
                "v1",
                namespace,
                "widgets",
                resource_version=start_rv,
                timeout_seconds=30,
            ):
                seen.append((event["type"], event["object"]["metadata"]["name"]))
                if len(seen) >= 2:
                    w.stop()

        watcher = threading.Thread(target=watch_widgets, daemon=True)
        watcher.start()
        for name in ("small", "large"):
            custom.create_namespaced_custom_object(
                "testenv.vertexops.dev",
                "v1",
                namespace,
                "widgets",
                {
                    "apiVersion": "testenv.vertexops.dev/v1",
                    "kind": "Widget",
                    "metadata": {"name": name},
                    "spec": {"size": 3},
                },
            )
        watcher.join(timeout=30)

        listed = custom.list_namespaced_custom_object("testenv.vertexops.dev", "v1", namespace, "widgets")
        assert sorted(item["metadata"]["name"] for item in listed["items"]) == ["large", "small"]
        assert seen == [("ADDED", "small"), ("ADDED", "large")]

        # The schema is enforced by the server, not by us.
        with pytest.raises(k8s.ApiException) as rejected:
            custom.create_namespaced_custom_object(
                "testenv.vertexops.dev",
                "v1",
                namespace,
                "widgets",
                {
                    "apiVersion": "testenv.vertexops.dev/v1",
                    "kind": "Widget",
                    "metadata": {"name": "bad"},
                    "spec": {"size": 0},
                },
            )
        assert rejected.value.status == 422
        assert "spec.size" in rejected.value.body


def test_service_account_is_forbidden_until_a_role_grants_access(
    control_plane: ControlPlane, namespace: str
) -> None:
    kubeconfig = control_plane.service_account_kubeconfig(namespace, "reader")
    with control_plane.api_client(kubeconfig) as sa_api:
        core = k8s.CoreV1Api(sa_api)
        with pytest.raises(k8s.ApiException) as denied:
            core.list_namespaced_config_map(namespace)
        assert denied.value.status == 403
        assert f"system:serviceaccount:{namespace}:reader" in denied.value.body

        with control_plane.api_client() as admin:
            rbac = k8s.RbacAuthorizationV1Api(admin)
            rbac.create_namespaced_role(
                namespace,
                {
                    "metadata": {"name": "configmap-reader"},
                    "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
                },
            )
            rbac.create_namespaced_role_binding(
                namespace,
                {
                    "metadata": {"name": "configmap-reader"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": "configmap-reader",
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
                },
            )

        # RBAC changes reach the authorizer through its informer: poll briefly rather than assume.
        deadline = time.monotonic() + 30
        while True:
            try:
                core.list_namespaced_config_map(namespace)
                break
            except k8s.ApiException as err:
                if err.status != 403 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        # The Role grants list only: anything else is still refused.
        with pytest.raises(k8s.ApiException) as still_denied:
            core.create_namespaced_config_map(namespace, {"metadata": {"name": "x"}})
        assert still_denied.value.status == 403


def test_kubectl_version_reports_the_built_server_version(control_plane: ControlPlane) -> None:
    versions = read_versions()
    out = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"] == f"v{versions['KUBERNETES_VERSION']}"
    major, minor, _ = versions["KUBERNETES_VERSION"].split(".")
    assert (out["serverVersion"]["major"], out["serverVersion"]["minor"]) == (major, minor)
    assert out["clientVersion"]["gitVersion"] == f"v{versions['KUBECTL_VERSION']}"


def test_helm_3_and_4_are_installed() -> None:
    import subprocess

    tools = resolve_tools()
    versions = read_versions()
    helm4 = subprocess.run(
        [str(tools.helm), "version", "--short"], capture_output=True, text=True, check=True
    )
    helm3 = subprocess.run(
        [str(tools.helm3), "version", "--short"], capture_output=True, text=True, check=True
    )
    assert helm4.stdout.startswith(f"v{versions['HELM4_VERSION']}")
    assert helm3.stdout.startswith(f"v{versions['HELM3_VERSION']}")


def test_stop_ends_exactly_its_processes_and_removes_its_files(control_plane: ControlPlane) -> None:
    second = ControlPlane().start()
    pids, workdir = second.pids(), Path(second.workdir)
    assert len(pids) == 2 and workdir.is_dir()
    assert second.server != control_plane.server
    second.stop()
    for pid in pids:
        assert not _alive(pid), f"process {pid} still running after stop()"
    assert not workdir.exists()
    # The session's control plane is untouched.
    assert all(_alive(pid) for pid in control_plane.pids())
    control_plane.kubectl("get", "namespaces")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes; Popen.wait() in stop() reaps ours, so this is belt and braces.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
