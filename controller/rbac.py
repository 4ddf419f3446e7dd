"""The Kubernetes rights the operator uses, and nothing more: the list the chart and the tests grant.

Each rule names the code that needs it. The Helm chart renders the same rules (a test compares them), and the
end-to-end tests run the operator under a ServiceAccount bound to exactly these.
"""

from __future__ import annotations

from typing import Any

from controller.api.resource import GROUP

PolicyRule = dict[str, list[str]]

# Rights on the watched namespaces (a ClusterRole, or a Role per namespace when the watch is restricted).
WATCH_RULES: tuple[PolicyRule, ...] = (
    # informers list and watch; the reconciler re-reads before a create and patches the finalizer
    {
        "apiGroups": [GROUP],
        "resources": ["tuningjobs", "tunedmodels"],
        "verbs": ["get", "list", "watch", "patch"],
    },
    # status is written with merge patches only
    {"apiGroups": [GROUP], "resources": ["tuningjobs/status", "tunedmodels/status"], "verbs": ["patch"]},
    # an ownerReference with blockOwnerDeletion on the published ConfigMap needs update on finalizers where
    # the OwnerReferencesPermissionEnforcement admission plugin is on
    {
        "apiGroups": [GROUP],
        "resources": ["tuningjobs/finalizers", "tunedmodels/finalizers"],
        "verbs": ["update"],
    },
    # spec.publish ConfigMaps: created, read, corrected; watched (by label) to undo edits. TunedModel training
    # data is read from ConfigMaps with get.
    {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch", "create", "patch"]},
    # spec.apiKeySecretRef: read one named Secret when a TunedModel references it, never listed or watched
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
    # the event recorder creates events and updates the count of repeated ones
    {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
)

# Cluster-wide rights of the tenancy, whatever namespaces are watched: TuningTenants are cluster-scoped, and a
# tenant may select namespaces by label. Never write access to the tenants' specs: they are the admin's.
TENANCY_RULES: tuple[PolicyRule, ...] = (
    {"apiGroups": [GROUP], "resources": ["tuningtenants"], "verbs": ["get", "list", "watch"]},
    # status.namespaces and status.usage
    {"apiGroups": [GROUP], "resources": ["tuningtenants/status"], "verbs": ["patch"]},
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
)

# Aggregated into the built-in ClusterRoles (by label, as cert-manager and others do), so a user bound to
# `edit` or `admin` in a namespace manages TuningJobs and TunedModels there and `view` reads them. None of
# them names tuningtenants: a RoleBinding could not grant a cluster-scoped kind anyway.
AGGREGATE_LABEL = "rbac.authorization.k8s.io/aggregate-to-{role}"
USER_KINDS = ["tuningjobs", "tunedmodels"]
EDIT_RULES: tuple[PolicyRule, ...] = (
    {
        "apiGroups": [GROUP],
        "resources": USER_KINDS,
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    },
)
VIEW_RULES: tuple[PolicyRule, ...] = (
    {
        "apiGroups": [GROUP],
        "resources": [*USER_KINDS, *(f"{kind}/status" for kind in USER_KINDS)],
        "verbs": ["get", "list", "watch"],
    },
)
# role suffix -> (the built-in roles it aggregates to, its rules)
AGGREGATED_ROLES: dict[str, tuple[tuple[str, ...], tuple[PolicyRule, ...]]] = {
    "edit": (("admin", "edit"), EDIT_RULES),
    "view": (("view",), VIEW_RULES),
}

# Rights in the operator's own namespace for leader election.
LEADER_ELECTION_RULES: tuple[PolicyRule, ...] = (
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]},
)


def cluster_role(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [dict(r) for r in WATCH_RULES],
    }


def cluster_role_binding(
    role: str, service_account: str, namespace: str, name: str | None = None
) -> dict[str, Any]:
    """Bind the ClusterRole `role` to a ServiceAccount (the binding is named after the role by default)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name or role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }


def leader_election_role(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": namespace},
        "rules": [dict(r) for r in LEADER_ELECTION_RULES],
    }


def role_binding(name: str, namespace: str, service_account: str, sa_namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": sa_namespace}],
    }


def tenancy_cluster_role(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name},
        "rules": [dict(r) for r in TENANCY_RULES],
    }


def aggregated_cluster_roles(prefix: str) -> list[dict[str, Any]]:
    """`<prefix>-edit` (into admin and edit) and `<prefix>-view` (into view)."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {
                "name": f"{prefix}-{suffix}",
                "labels": {AGGREGATE_LABEL.format(role=role): "true" for role in roles},
            },
            "rules": [dict(r) for r in rules],
        }
        for suffix, (roles, rules) in AGGREGATED_ROLES.items()
    ]
