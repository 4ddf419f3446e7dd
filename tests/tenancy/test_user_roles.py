"""The ClusterRoles aggregated into admin/edit/view, checked with real ServiceAccount tokens.

What a tenant user may do is asked of the API server's own RBAC authorizer, as that user: create and read
TuningJobs in its namespace, and never create, edit or delete a TuningTenant, whatever it is bound to in
its namespace. That the roles join the built-in `admin`, `edit` and `view` is checked here against the
aggregation selectors those built-in roles carry on the same API server; that a user bound only to the
built-in `edit` or `view` gets them, through kube-controller-manager's aggregation, is checked on a real
node with the chart installed (tests/node/test_chart_on_node.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client as k8s

from controller import rbac
from controller.testenv.controlplane import ControlPlane
from tenancy.cases import job, tenant_a

PREFIX = "vertexops-users-test"


@pytest.fixture(scope="module")
def roles(crds: ControlPlane) -> Iterator[ControlPlane]:
    documents = "".join(f"---\n{json.dumps(r)}\n" for r in rbac.aggregated_cluster_roles(PREFIX))
    crds.kubectl("apply", "--server-side", "-f", "-", input=documents)
    yield crds
    crds.kubectl("delete", "clusterrole", f"{PREFIX}-edit", f"{PREFIX}-view", check=False)


def _user(cp: ControlPlane, namespace: str, name: str, *cluster_roles: str) -> Path:
    """A ServiceAccount bound in `namespace` (RoleBindings only, as a namespace admin grants) to the roles."""
    kubeconfig = cp.service_account_kubeconfig(namespace, name)
    with cp.api_client() as api:
        rbac_api = k8s.RbacAuthorizationV1Api(api)
        for role in cluster_roles:
            rbac_api.create_namespaced_role_binding(
                namespace,
                {
                    "metadata": {"name": f"{name}-{role}"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                    "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
                },
            )
    return kubeconfig


def _can(cp: ControlPlane, kubeconfig: Path, *args: str) -> bool:
    result = cp.kubectl("auth", "can-i", *args, kubeconfig=kubeconfig, check=False)
    return result.stdout.strip() == "yes"


def test_the_roles_carry_the_labels_the_built_in_roles_aggregate(roles: ControlPlane) -> None:
    with roles.api_client() as api:
        rbac_api = k8s.RbacAuthorizationV1Api(api)
        ours = {r["metadata"]["name"]: r for r in rbac.aggregated_cluster_roles(PREFIX)}
        for built_in, role in (("admin", "edit"), ("edit", "edit"), ("view", "view")):
            selectors = rbac_api.read_cluster_role(built_in).aggregation_rule.cluster_role_selectors
            labels = ours[f"{PREFIX}-{role}"]["metadata"]["labels"]
            assert any(
                all(labels.get(k) == v for k, v in (s.match_labels or {}).items()) for s in selectors
            ), f"{PREFIX}-{role} is not aggregated into the built-in {built_in}"
        for cluster_role in ours.values():
            rules = cluster_role["rules"]
            assert not any("tuningtenants" in r for rule in rules for r in rule["resources"])


def test_a_tenant_user_manages_tuning_jobs_and_cannot_touch_a_tenant(
    roles: ControlPlane, namespace: str
) -> None:
    tenant = tenant_a(f"guarded-{uuid.uuid4().hex[:6]}", namespaces=[namespace])
    roles.kubectl("apply", "-f", "-", input=json.dumps(tenant))
    try:
        # The aggregated edit rights, and the built-in admin role on top: all a namespace admin can hold.
        user = _user(roles, namespace, "tenant-user", f"{PREFIX}-edit", "admin")
        created = roles.kubectl(
            "create",
            "-n",
            namespace,
            "-f",
            "-",
            input=json.dumps(job(namespace, "mine")),
            kubeconfig=user,
            check=False,
        )
        assert created.returncode == 0, created.stderr
        assert (
            roles.kubectl("get", "tuningjobs", "-n", namespace, kubeconfig=user, check=False).returncode == 0
        )
        assert _can(roles, user, "delete", "tuningjobs", "-n", namespace)

        name = tenant["metadata"]["name"]
        other = tenant_a(f"mine-{uuid.uuid4().hex[:6]}", namespaces=[namespace])
        attempts = {
            "create": roles.kubectl(
                "create", "-f", "-", input=json.dumps(other), kubeconfig=user, check=False
            ),
            "patch": roles.kubectl(
                "patch",
                "tuningtenant",
                name,
                "--type=merge",
                "-p",
                '{"spec":{"projects":["anything-goes"]}}',
                kubeconfig=user,
                check=False,
            ),
            "delete": roles.kubectl("delete", "tuningtenant", name, kubeconfig=user, check=False),
        }
        for verb, result in attempts.items():
            assert result.returncode != 0, f"{verb} of a TuningTenant was allowed"
            assert "forbidden" in result.stderr.lower(), result.stderr
        for verb in ("create", "update", "patch", "delete"):
            assert not _can(roles, user, verb, "tuningtenants")
        assert roles.kubectl("get", "tuningtenant", name, "-o", "name").stdout.strip().endswith(name)
    finally:
        roles.kubectl("delete", "tuningtenant", tenant["metadata"]["name"], check=False)


def test_a_viewer_reads_but_does_not_write(roles: ControlPlane, namespace: str) -> None:
    viewer = _user(roles, namespace, "viewer", f"{PREFIX}-view")
    assert _can(roles, viewer, "list", "tuningjobs", "-n", namespace)
    assert _can(roles, viewer, "get", "tunedmodels", "-n", namespace)
    assert not _can(roles, viewer, "create", "tuningjobs", "-n", namespace)
    assert not _can(roles, viewer, "list", "tuningtenants")
