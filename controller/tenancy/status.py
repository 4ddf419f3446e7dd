"""The status of a TuningTenant: the namespaces it covers now and how much of its limits they use.

Written by a small reconciler of its own, woken when the tenant, a namespace or one of its TuningJobs
changes, so `kubectl get tuningtenants` answers "which namespaces, how busy" without reading the jobs.
"""

from __future__ import annotations

from typing import Any

from controller.runtime.kubeapi import ApiError, KubeApi, ResourceRef
from controller.runtime.manager import Result
from controller.tenancy.admit import Tenancy
from controller.tenancy.matching import covers
from controller.tenancy.queue import in_line, is_active

JsonObject = dict[str, Any]


def tenant_status(tenancy: Tenancy, tenant: JsonObject) -> JsonObject:
    """What the tenant's status should say now."""
    namespaces = sorted(
        ns["metadata"]["name"]
        for ns in tenancy.namespaces.list()
        if covers(tenant, ns["metadata"]["name"], (ns["metadata"].get("labels") or {}))
    )
    jobs = tenancy.jobs_of(tenant)
    usage: JsonObject = {
        "activeJobs": sum(1 for j in jobs if is_active(j)),
        "waitingJobs": sum(1 for j in jobs if in_line(j)),
    }
    limit = (tenant["spec"].get("limits") or {}).get("maxActiveJobs")
    if limit:
        usage["maxActiveJobs"] = limit
    else:
        usage["waitingJobs"] = 0  # without a limit nothing waits; jobs not yet created are being created
    return {
        "observedGeneration": tenant["metadata"].get("generation"),
        "namespaces": namespaces,
        "usage": usage,
    }


class TenantStatusReconciler:
    def __init__(self, tenancy: Tenancy, api: KubeApi, resource: ResourceRef) -> None:
        self.tenancy = tenancy
        self.api = api
        self.resource = resource

    def __call__(self, kind: str, key: str) -> Result:
        tenant = self.tenancy.tenants.get(key)
        if tenant is None:
            return Result()
        wanted = tenant_status(self.tenancy, tenant)
        current = tenant.get("status") or {}
        if {k: current.get(k) for k in wanted} != wanted:
            try:
                self.api.merge_patch(self.resource.object_path(key) + "/status", {"status": wanted})
            except ApiError as err:
                if not err.not_found:
                    raise
        return Result()

    def tenants_of_namespace(self, namespace: str) -> list[str]:
        return [t["metadata"]["name"] for t in self.tenancy.tenants_of(namespace)]
