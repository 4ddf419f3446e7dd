"""`Tenancy.admit(obj)`: may the operator call Google for this resource, as whom and where;
`Tenancy.may_create(obj)`: may it create the remote job now, or must it wait its turn.

The reconciler asks `admit` before any Google call, and `may_create` when the look-up found no remote job to
adopt, just before it records the create intent: adopting a job that already runs costs nothing and never
waits; only creates queue under `limits.maxActiveJobs` (`WaitingForTenantQuota`, see
`controller.tenancy.queue`). The answer is a function of the cluster as the informer caches
show it (TuningTenants, Namespaces and TuningJobs), so a tenant edited or a namespace relabelled takes
effect at the next reconcile, without a restart, and the same answer comes back after one.

- No TuningTenant covers the namespace: allowed with the operator's own identity, as for a single team;
  refused with `NoTenant` in strict mode.
- Two tenants cover it: refused with `PolicyDenied` (which one would win is no choice for the operator).
- One tenant covers it: a TuningJob not yet created must keep every rule of `controller.tenancy.rules`
  (`PolicyDenied`, naming the rule). A job already created is followed with the tenant's identity whatever
  the tenant says now: stopping to watch a running, paid job would not stop it.
- A TunedModel (Gemini API) in a tenant's namespace must bring its own API key (spec.apiKeySecretRef):
  the operator's own Gemini credential is never lent to a tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.api.conditions import Reason
from controller.runtime.store import Store
from controller.tenancy.identity import IMPERSONATED_FIELD
from controller.tenancy.matching import covers, tenants_covering
from controller.tenancy.queue import Place, Reservations, is_created, place_in_line
from controller.tenancy.rules import Where, violations

JsonObject = dict[str, Any]

# A waiting job looks again this often even if no event wakes it (a finished job in another namespace the
# operator does not watch, for instance).
WAIT_RECHECK_SECONDS = 30.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: Reason | None = None
    message: str = ""
    tenant: str | None = None
    # Google service account to impersonate; None: the operator's own identity.
    identity: str | None = None
    project: str | None = None
    location: str | None = None
    # Refused for now only: the job waits for a place under the tenant's limit.
    waiting: bool = False
    retry_after: float | None = None


#: Store index of the TuningJobs not yet created, by namespace: the ones a tenant, namespace or freed place
#: can let through. Kept as objects change, so waking them reads no object.
UNCREATED_BY_NAMESPACE = "tenancy/uncreated-by-namespace"


def _uncreated_namespace(job: JsonObject) -> list[str]:
    return [] if is_created(job) else [job["metadata"]["namespace"]]


class Tenancy:
    def __init__(
        self,
        tenants: Store,
        namespaces: Store,
        tuning_jobs: Store | None = None,
        *,
        strict: bool = False,
        default_project: str | None = None,
        default_location: str | None = None,
        reservations: Reservations | None = None,
    ) -> None:
        self.tenants = tenants
        self.namespaces = namespaces
        self.tuning_jobs = tuning_jobs
        if tuning_jobs is not None and not tuning_jobs.has_index(UNCREATED_BY_NAMESPACE):
            tuning_jobs.add_index(UNCREATED_BY_NAMESPACE, _uncreated_namespace)
        self.strict = strict
        self.default_project = default_project
        self.default_location = default_location
        self.reservations = reservations or Reservations()

    # -- which tenant --------------------------------------------------------------------------------------

    def _labels(self, namespace: str) -> dict[str, str]:
        ns = self.namespaces.get(namespace) or {}
        return dict((ns.get("metadata") or {}).get("labels") or {})

    def tenants_of(self, namespace: str) -> list[JsonObject]:
        return tenants_covering(self.tenants.list(), namespace, self._labels(namespace))

    def tenant_of(self, namespace: str) -> JsonObject | None:
        """The one tenant covering the namespace; None when none or several do."""
        found = self.tenants_of(namespace)
        return found[0] if len(found) == 1 else None

    def identity_of(self, obj: JsonObject) -> str | None:
        """The Google service account calls for `obj` are made as; None: the operator's own identity."""
        tenant = self.tenant_of(obj["metadata"]["namespace"])
        identity = (tenant or {}).get("spec", {}).get("googleServiceAccount")
        return str(identity) if identity else None

    def token_cap(self, obj: JsonObject) -> tuple[int, str] | None:
        """(limits.maxBillableTokensPerJob, tenant name) of the job's tenant, when it sets one."""
        tenant = self.tenant_of(obj["metadata"]["namespace"])
        limit = ((tenant or {}).get("spec", {}).get("limits") or {}).get("maxBillableTokensPerJob")
        return (int(limit), str(tenant["metadata"]["name"])) if tenant and limit else None

    def preflight_required_by(self, obj: JsonObject) -> str | None:
        """The name of the job's tenant when it sets requireDatasetPreflight; None otherwise."""
        tenant = self.tenant_of(obj["metadata"]["namespace"])
        if tenant and tenant.get("spec", {}).get("requireDatasetPreflight"):
            return str(tenant["metadata"]["name"])
        return None

    # -- the decision --------------------------------------------------------------------------------------

    def admit(self, obj: JsonObject) -> Decision:
        namespace = obj["metadata"]["namespace"]
        kind = obj.get("kind", "TuningJob")
        found = self.tenants_of(namespace)
        if not found:
            if self.strict:
                return Decision(
                    False,
                    Reason.NO_TENANT,
                    f"no TuningTenant covers namespace {namespace}, and the operator runs in strict tenancy "
                    "mode: nothing is created on Google until a platform admin adds the namespace to one",
                )
            return Decision(True, project=self.default_project, location=self.default_location)
        if len(found) > 1:
            names = ", ".join(t["metadata"]["name"] for t in found)
            return Decision(
                False,
                Reason.POLICY_DENIED,
                f"namespace {namespace} is covered by more than one TuningTenant ({names}); a platform "
                "admin must leave it in one",
            )
        tenant = found[0]
        name = tenant["metadata"]["name"]
        identity = tenant["spec"].get("googleServiceAccount")
        if kind == "TunedModel":
            return self._admit_tuned_model(obj, tenant, identity)
        where = self.where(obj, tenant)
        base = Decision(True, tenant=name, identity=identity, project=where.project, location=where.location)
        if is_created(obj):
            return base
        broken = violations(obj.get("spec") or {}, tenant, where)
        if broken:
            more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
            return Decision(False, Reason.POLICY_DENIED, broken[0] + more, tenant=name, identity=identity)
        return base

    def may_create(self, obj: JsonObject) -> Decision:
        """Whether the TuningJob (admitted, nothing found to adopt) may create its remote job now."""
        tenant = self.tenant_of(obj["metadata"]["namespace"])
        if tenant is None or is_created(obj) or obj.get("kind", "TuningJob") != "TuningJob":
            return Decision(True)
        identity = tenant["spec"].get("googleServiceAccount")
        return self._queue(obj, tenant, Decision(True, tenant=tenant["metadata"]["name"], identity=identity))

    def where(self, obj: JsonObject, tenant: JsonObject | None) -> Where:
        """The job's project and location: its own, else the tenant's defaults, else the operator's."""
        spec = obj.get("spec") or {}
        if spec.get("jobName"):  # an imported job: projects/P/locations/L/tuningJobs/ID
            parts = str(spec["jobName"]).split("/")
            return Where(project=parts[1], location=parts[3])
        tenant_spec = (tenant or {}).get("spec") or {}
        projects = tenant_spec.get("projects") or [None]
        project = spec.get("projectID") or tenant_spec.get("defaultProject") or projects[0]
        location = spec.get("location") or tenant_spec.get("defaultLocation") or self.default_location
        return Where(project=project or self.default_project or "", location=location)

    def _admit_tuned_model(self, obj: JsonObject, tenant: JsonObject, identity: str | None) -> Decision:
        name = tenant["metadata"]["name"]
        if (obj.get("spec") or {}).get("apiKeySecretRef"):
            return Decision(True, tenant=name)
        return Decision(
            False,
            Reason.POLICY_DENIED,
            f"spec.apiKeySecretRef: namespace {obj['metadata']['namespace']} belongs to TuningTenant "
            f"'{name}', whose TunedModels must bring their own Gemini API key; the operator's own "
            "credential is not lent to tenants",
            tenant=name,
        )

    def _queue(self, obj: JsonObject, tenant: JsonObject, base: Decision) -> Decision:
        limit = ((tenant["spec"].get("limits") or {}).get("maxActiveJobs")) or 0
        if not limit or self.tuning_jobs is None:
            return base
        uid = obj["metadata"]["uid"]
        with self.reservations.lock:
            jobs = self.jobs_of(tenant)
            eligible = [j for j in jobs if is_created(j) or not self._breaks_rules(j, tenant)]
            by_uid = {j["metadata"]["uid"]: j for j in eligible}
            by_uid[uid] = obj
            reserved = self.reservations.pending(by_uid)
            place = place_in_line(obj, by_uid.values(), int(limit), reserved)
            if place.may_start:
                self.reservations.add(uid)
                return base
        return Decision(
            False,
            Reason.WAITING_FOR_TENANT_QUOTA,
            waiting_message(str(tenant["metadata"]["name"]), place),
            tenant=base.tenant,
            identity=base.identity,
            waiting=True,
            retry_after=WAIT_RECHECK_SECONDS,
        )

    def jobs_of(self, tenant: JsonObject) -> list[JsonObject]:
        """The TuningJobs in the cache whose namespace this tenant (alone) covers (read namespace by
        namespace: the cache parses only what is read)."""
        if self.tuning_jobs is None:
            return []
        return [job for ns in self._namespaces_of(tenant) for job in self.tuning_jobs.list_namespace(ns)]

    def _namespaces_of(self, tenant: JsonObject) -> list[str]:
        """The namespaces holding TuningJobs that this tenant, and no other, covers."""
        if self.tuning_jobs is None:
            return []
        name = tenant["metadata"]["name"]
        return [
            namespace
            for namespace in self.tuning_jobs.namespaces()
            if [t["metadata"]["name"] for t in self.tenants_of(namespace)] == [name]
        ]

    def _breaks_rules(self, job: JsonObject, tenant: JsonObject) -> bool:
        return bool(violations(job.get("spec") or {}, tenant, self.where(job, tenant)))

    def waiting_keys(self, namespace: str) -> list[str]:
        """Keys of the not-yet-created TuningJobs sharing a limited tenant with `namespace` (to wake them)."""
        tenant = self.tenant_of(namespace)
        if tenant is None or not (tenant["spec"].get("limits") or {}).get("maxActiveJobs"):
            return []
        return [key for other in self._namespaces_of(tenant) for key in self.pending_keys(other)]

    def keys_for_tenant(self, tenant: JsonObject) -> list[str]:
        """Keys a tenant change can affect: every job not yet created (strict mode, namespaces moved in or
        out), and the jobs in its namespaces whose status names another identity than its own (an admin
        changed spec.googleServiceAccount). A status-only update of the tenant wakes no created job."""
        keys = set(self.pending_keys())
        identity = (tenant.get("spec") or {}).get("googleServiceAccount")
        for job in self.tuning_jobs.iter() if self.tuning_jobs is not None else ():
            namespace = job["metadata"]["namespace"]
            shown = (job.get("status") or {}).get(IMPERSONATED_FIELD)
            if shown != identity and covers(tenant, namespace, self._labels(namespace)):
                keys.add(f"{namespace}/{job['metadata']['name']}")
        return sorted(keys)

    def pending_keys(self, namespace: str | None = None) -> list[str]:
        """Keys of every TuningJob not yet created (of one namespace, if given): the ones a tenant change
        can affect."""
        if self.tuning_jobs is None:
            return []
        namespaces = self.tuning_jobs.namespaces() if namespace is None else [namespace]
        return [key for ns in namespaces for key in self.tuning_jobs.by_index(UNCREATED_BY_NAMESPACE, ns)]


def waiting_message(tenant: str, place: Place) -> str:
    """Why a job waits and where it stands, in terms a tenant user can check with kubectl."""
    in_use = f"{place.active} of {place.limit} in use"
    if place.unknown:
        in_use += f", and {place.unknown} not looked up yet that may already run remotely"
    text = (
        f"waiting for a place under TuningTenant '{tenant}' limits.maxActiveJobs ({in_use}): number "
        f"{place.position} of {place.queued} in line, in creation order"
    )
    if place.in_flight:
        text += f"; the create of {place.in_flight} goes first"
    return text + "; no remote job exists for it, and none is created until its turn"


AdmitFn = Callable[[JsonObject], Decision]
