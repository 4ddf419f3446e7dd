"""Tenancy enforced by the operator, with no admission policy installed: the emulator sees only what passes.

The operator runs under its chart's rights (including the tenancy ClusterRole); TuningTenants are real
cluster-scoped objects, edited while the operator runs.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from tenancy.cases import ESCAPES, TEAM_A_SA, TEAM_B_SA, job, tenant_a, tenant_b, where

from controller.api.resource import GROUP, VERSION
from controller.tenancy.rules import violations
from controller.testenv.operator import OperatorProcess
from e2e.conftest import FAST_OPERATOR_ARGS, OperatorFactory
from e2e.support import Resources, condition, is_true
from emulator.server import Emulator
from emulator.vertex_jobs import render_job

# A second service account of team A's project, for an admin who rotates the tenant's identity.
ROTATED_SA = "team-a-2@proj-team-a.iam.gserviceaccount.com"
ACTIVE_STATES = {"JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING"}


class Tenants:
    """TuningTenants created by one test, deleted after it (they are cluster-scoped)."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.names: list[str] = []

    def create(self, tenant: dict[str, Any]) -> None:
        self.api.create_cluster_custom_object(GROUP, VERSION, "tuningtenants", tenant)
        self.names.append(tenant["metadata"]["name"])

    def patch(self, name: str, patch: dict[str, Any]) -> None:
        self.api.patch_cluster_custom_object(GROUP, VERSION, "tuningtenants", name, patch)

    def wait_for_status(self, name: str, predicate: Any, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            tenant = self.api.get_cluster_custom_object(GROUP, VERSION, "tuningtenants", name)
            status = tenant.get("status") or {}
            if predicate(status):
                return status
            time.sleep(0.2)
        raise AssertionError(f"tuningtenant/{name}: status not reached in {timeout}s; last: {status}")

    def delete(self, name: str) -> None:
        with contextlib.suppress(k8s.ApiException):
            self.api.delete_cluster_custom_object(GROUP, VERSION, "tuningtenants", name)


@pytest.fixture
def tenants(api_client: k8s.ApiClient) -> Iterator[Tenants]:
    created = Tenants(api_client)
    yield created
    for name in created.names:
        created.delete(name)


def _tenant(namespace: str, **limits: int) -> dict[str, Any]:
    tenant = tenant_a(f"{namespace}-tenant", namespaces=[namespace])
    tenant["spec"]["limits"].update(limits)
    return tenant


def _iam(emulator: Emulator, operator: OperatorProcess) -> None:
    """Google's IAM as a platform admin would set it up: the operator may only mint tenants' tokens.

    The operator's own identity is the service account of its per-run ADC key file."""
    iam = emulator.state.iam
    assert operator.adc is not None
    iam.grant(operator.adc.principal, impersonate=(TEAM_A_SA, TEAM_B_SA))
    iam.grant(TEAM_A_SA, projects=("proj-team-a",), buckets=("team-a-data",))
    iam.grant(TEAM_B_SA, projects=("proj-team-b",), buckets=("team-b-data",))


def _stalled_with(reason: str) -> Any:
    return lambda obj: (condition(obj, "Stalled") or {}).get("reason") == reason and is_true(obj, "Stalled")


def test_escapes_never_reach_google_and_a_tenant_change_applies_without_restart(
    start_operator: OperatorFactory,
    emulator: Emulator,
    resources: Resources,
    tenants: Tenants,
    namespace: str,
) -> None:
    tenant = _tenant(namespace)
    tenants.create(tenant)
    _iam(emulator, start_operator())
    for escape in ESCAPES:
        resources.create(escape.apply_to(job(namespace, escape.id)))
    resources.create(job(namespace, "allowed"))

    for escape in ESCAPES:
        obj = resources.wait_for(escape.id, _stalled_with("PolicyDenied"), what="PolicyDenied")
        spec = obj["spec"]
        expected = violations(spec, tenant, where(spec, tenant))
        assert condition(obj, "Stalled")["message"] == expected[0]  # type: ignore[index]
        assert condition(obj, "Synced")["status"] == "True"  # type: ignore[index]
        resources.wait_for_event(escape.id, "PolicyDenied")
    resources.wait_for("allowed", lambda o: is_true(o, "Ready"), timeout=90, what="Ready")

    assert emulator.count("tuningJobs.create") == 1, "a refused job reached Google"
    vertex_calls = [r for r in emulator.requests() if r.api == "vertex"]
    assert vertex_calls and {r.principal for r in vertex_calls} == {TEAM_A_SA}
    created = emulator.state.vertex.jobs_in("proj-team-a", "us-central1")
    allowed_uid = resources.get("allowed")["metadata"]["uid"]  # type: ignore[index]
    assert [j.spec.get("labels", {}).get("vertexops-uid") for j in created] == [allowed_uid]

    # The admin allows the other base model: the refused job starts, no restart needed.
    tenants.patch(
        tenant["metadata"]["name"], {"spec": {"baseModels": ["gemini-2.5-flash", "gemini-2.5-pro"]}}
    )
    resources.wait_for(
        "base-model-not-allowed", lambda o: bool((o.get("status") or {}).get("name")), what="created"
    )
    assert emulator.count("tuningJobs.create") == 2
    assert _stalled_with("PolicyDenied")(resources.get("foreign-bucket"))


def test_strict_mode_refuses_an_uncovered_namespace_until_a_tenant_covers_it(
    start_operator: OperatorFactory,
    emulator: Emulator,
    resources: Resources,
    tenants: Tenants,
    namespace: str,
) -> None:
    start_operator("--tenancy-strict=true")
    resources.create(job(namespace, "stray"))
    obj = resources.wait_for("stray", _stalled_with("NoTenant"), what="NoTenant")
    assert f"no TuningTenant covers namespace {namespace}" in condition(obj, "Stalled")["message"]  # type: ignore[index]
    time.sleep(1)
    assert emulator.count("tuningJobs.create") == 0

    tenants.create(_tenant(namespace))
    resources.wait_for("stray", lambda o: is_true(o, "Ready"), timeout=90, what="Ready")
    assert emulator.count("tuningJobs.create") == 1


class ActiveSampler:
    """Counts the remote jobs pending or running, on the emulator itself, every few milliseconds."""

    def __init__(self, emulator: Emulator, project: str, location: str) -> None:
        self.emulator, self.project, self.location = emulator, project, location
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        vertex = self.emulator.state.vertex
        while not self._stop.wait(0.02):
            now = vertex.now()
            states = [render_job(j, now)["state"] for j in vertex.jobs_in(self.project, self.location)]
            self.peak = max(self.peak, sum(1 for s in states if s in ACTIVE_STATES))
            self.samples += 1

    def __enter__(self) -> ActiveSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _waiting_with(*parts: str) -> Any:
    def check(obj: dict[str, Any]) -> bool:
        reconciling = condition(obj, "Reconciling") or {}
        message = str(reconciling.get("message") or "")
        return reconciling.get("reason") == "WaitingForTenantQuota" and all(p in message for p in parts)

    return check


def _created_in_order(emulator: Emulator, resources: Resources) -> list[str]:
    """The resources whose remote jobs the emulator's create calls made, in the order it served them."""
    by_remote = {}
    for obj in resources.api.list_namespaced_custom_object(GROUP, VERSION, resources.namespace, "tuningjobs")[
        "items"
    ]:
        by_remote[(obj.get("status") or {}).get("name")] = obj["metadata"]["name"]
    creates = emulator.requests("tuningJobs.create")
    assert all(r.status == 200 and r.created for r in creates), creates
    return [by_remote.get(r.created, r.created) for r in creates]


def test_a_concurrency_limit_queues_jobs_in_order_across_an_operator_kill(
    start_operator: OperatorFactory,
    emulator: Emulator,
    resources: Resources,
    tenants: Tenants,
    namespace: str,
) -> None:
    tenants.create(_tenant(namespace, maxActiveJobs=2))
    names = [f"job-{i}" for i in range(1, 6)]
    with ActiveSampler(emulator, "proj-team-a", "us-central1") as sampler:
        operator = start_operator()
        for name in names:
            resources.create(job(namespace, name))
        waiting = resources.wait_for(
            "job-5",
            _waiting_with("number 3 of 3 in line", "(2 of 2 in use)"),
            what="WaitingForTenantQuota, third in line",
        )
        assert condition(waiting, "Ready")["status"] == "False"  # type: ignore[index]
        assert condition(waiting, "Synced")["status"] == "True"  # type: ignore[index]
        busy = tenants.wait_for_status(
            f"{namespace}-tenant", lambda st: (st.get("usage") or {}).get("waitingJobs") == 3
        )
        assert busy["namespaces"] == [namespace]
        assert busy["usage"] == {"activeJobs": 2, "waitingJobs": 3, "maxActiveJobs": 2}

        # Kill the operator once the first job is done and the next ones are on their way.
        resources.wait_for("job-1", lambda o: is_true(o, "Ready"), timeout=90, what="Ready")
        operator.kill()
        start_operator()
        for name in names:
            resources.wait_for(name, lambda o: is_true(o, "Ready"), timeout=120, what="Ready")

    idle = tenants.wait_for_status(
        f"{namespace}-tenant", lambda st: (st.get("usage") or {}).get("activeJobs") == 0
    )
    assert idle["usage"]["waitingJobs"] == 0
    assert sampler.samples > 50
    assert sampler.peak == 2, f"at most 2 jobs may be pending or running; the emulator saw {sampler.peak}"
    # Exactly one create call per job, one after the other, in creation order (names break the tie of
    # equal creation timestamps).
    assert _created_in_order(emulator, resources) == names


def test_after_a_rebuild_running_jobs_are_adopted_at_once_and_only_creates_wait(
    start_operator: OperatorFactory,
    emulator: Emulator,
    resources: Resources,
    tenants: Tenants,
    namespace: str,
) -> None:
    """Two jobs run and two wait; the cluster is rebuilt and the waiting two come first in its line.

    The running two are adopted at once and hold both places; the other two wait and are created after
    them. The emulator's clock stands still until the end, so the running jobs are still running then.
    """
    tenants.create(_tenant(namespace, maxActiveJobs=2))
    running, queued = ["later-1", "later-2"], ["early-1", "early-2"]
    emulator.set_time_scale(0)
    with ActiveSampler(emulator, "proj-team-a", "us-central1") as sampler:
        operator = start_operator()
        for name in running:
            resources.create(job(namespace, name))
        remote = {
            name: resources.wait_for(
                name, lambda o: bool((o.get("status") or {}).get("name")), what="created"
            )["status"]["name"]
            for name in running
        }
        for name in queued:
            resources.create(job(namespace, name))
            resources.wait_for(name, _waiting_with("(2 of 2 in use)"), what="WaitingForTenantQuota")

        # The cluster is lost and rebuilt from the same manifests: new objects, new UIDs, empty status.
        operator.stop()
        for name in running + queued:
            resources.patch(name, {"metadata": {"finalizers": None}})
            resources.delete(name)
            resources.wait_gone(name)
        for name in queued + running:  # the jobs that waited are now first in line (names break ties too)
            resources.create(job(namespace, name))
        start_operator()

        for name in running:
            adopted = resources.wait_for(
                name, lambda o: bool((o.get("status") or {}).get("name")), what="adopted"
            )
            assert adopted["status"]["name"] == remote[name]
            resources.wait_for_event(name, "Adopted")
        for name in queued:
            resources.wait_for(name, _waiting_with("(2 of 2 in use)", "of 2 in line"), what="waiting")
        assert emulator.count("tuningJobs.create") == 2, "a job created while two ran"

        emulator.set_time_scale(50)
        for name in running + queued:
            resources.wait_for(name, lambda o: is_true(o, "Ready"), timeout=120, what="Ready")

    assert sampler.peak == 2, f"at most 2 jobs may be pending or running; the emulator saw {sampler.peak}"
    assert _created_in_order(emulator, resources) == running + queued


def test_a_changed_tenant_identity_shows_in_status_and_is_used_from_then_on(
    start_operator: OperatorFactory,
    emulator: Emulator,
    resources: Resources,
    tenants: Tenants,
    namespace: str,
) -> None:
    tenant = _tenant(namespace)
    tenants.create(tenant)
    operator = start_operator()
    _iam(emulator, operator)
    assert operator.adc is not None
    emulator.state.iam.grant(operator.adc.principal, impersonate=(ROTATED_SA,))
    emulator.state.iam.grant(ROTATED_SA, projects=("proj-team-a",), buckets=("team-a-data",))
    emulator.set_time_scale(0)  # the job stays pending while the admin changes the identity
    resources.create(job(namespace, "rotated"))
    first = resources.wait_for(
        "rotated",
        lambda o: (
            bool((o.get("status") or {}).get("name"))
            and o["status"].get("impersonatedServiceAccount") == TEAM_A_SA
        ),
        what="created as team-a",
    )

    tenants.patch(tenant["metadata"]["name"], {"spec": {"googleServiceAccount": ROTATED_SA}})
    resources.wait_for(
        "rotated",
        lambda o: (o.get("status") or {}).get("impersonatedServiceAccount") == ROTATED_SA,
        what="the new identity in status",
    )
    emulator.set_time_scale(50)
    done = resources.wait_for("rotated", lambda o: is_true(o, "Ready"), timeout=90, what="Ready")

    assert done["status"]["name"] == first["status"]["name"]
    assert done["status"]["impersonatedServiceAccount"] == ROTATED_SA
    assert emulator.count("tuningJobs.create") == 1
    principals = [r.principal for r in emulator.requests() if r.api == "vertex"]
    assert principals[0] == TEAM_A_SA and principals[-1] == ROTATED_SA, principals
    minted = {
        r.path.split("/")[-1].split(":")[0] for r in emulator.requests("serviceAccounts.generateAccessToken")
    }
    assert minted == {TEAM_A_SA, ROTATED_SA}


def test_two_tenants_each_run_in_their_own_project_as_their_own_identity(
    operator_kubeconfig: Any, emulator: Emulator, api_client: k8s.ApiClient, tenants: Tenants, tmp_path: Any
) -> None:
    suffix = uuid.uuid4().hex[:8]
    ns_a, ns_b = f"ta-{suffix}", f"tb-{suffix}"
    core = k8s.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": ns_a}})
    core.create_namespace({"metadata": {"name": ns_b, "labels": {"tenancy.example.com/team": suffix}}})
    tenants.create(tenant_a(f"{ns_a}-tenant", namespaces=[ns_a]))
    tenants.create(tenant_b(f"{ns_b}-tenant", label=suffix))
    operator = OperatorProcess(
        operator_kubeconfig,
        emulator.url,
        tmp_path / "operator.log",
        namespaces=[ns_a, ns_b],
        extra_args=list(FAST_OPERATOR_ARGS),
    ).start()
    _iam(emulator, operator)
    a, b = Resources(api_client, ns_a), Resources(api_client, ns_b)
    try:
        a.create(job(ns_a, "a-job"))
        b_job = job(ns_b, "b-job")
        b_job["spec"].pop("projectID")  # the tenant's default project
        b_job["spec"]["supervisedTuningSpec"]["trainingDatasetUri"] = "gs://team-b-data/train.jsonl"
        b.create(b_job)
        a.wait_for("a-job", lambda o: is_true(o, "Ready"), timeout=90, what="Ready")
        b.wait_for("b-job", lambda o: is_true(o, "Ready"), timeout=90, what="Ready")
    finally:
        operator.stop()
        for resources in (a, b):
            for obj in resources.api.list_namespaced_custom_object(
                GROUP, VERSION, resources.namespace, "tuningjobs"
            )["items"]:
                with contextlib.suppress(k8s.ApiException):
                    resources.patch(obj["metadata"]["name"], {"metadata": {"finalizers": None}})
        for ns in (ns_a, ns_b):
            with contextlib.suppress(k8s.ApiException):
                core.delete_namespace(ns)
    vertex = emulator.state.vertex
    assert len(vertex.jobs_in("proj-team-a", "us-central1")) == 1
    assert len(vertex.jobs_in("proj-team-b", "us-central1")) == 1
    for record in (r for r in emulator.requests() if r.api == "vertex"):
        expected = (
            TEAM_A_SA
            if "/projects/proj-team-a/" in record.path or _number(emulator, "proj-team-a") in record.path
            else TEAM_B_SA
        )
        assert record.principal == expected, record
    minted = emulator.requests("serviceAccounts.generateAccessToken")
    assert {r.principal for r in minted} == {operator.adc.principal}  # type: ignore[union-attr]
    assert {r.path.split("/")[-1].split(":")[0] for r in minted} == {TEAM_A_SA, TEAM_B_SA}


def _number(emulator: Emulator, project: str) -> str:
    return f"/projects/{emulator.config.project_number(project)}/"


def test_a_job_over_the_billable_token_cap_is_cancelled_and_says_why(
    start_operator: OperatorFactory,
    emulator: Emulator,
    resources: Resources,
    tenants: Tenants,
    namespace: str,
) -> None:
    tenants.create(_tenant(namespace, maxBillableTokensPerJob=1000))
    start_operator()
    resources.create(job(namespace, "big"))
    obj = resources.wait_for(
        "big",
        lambda o: (o.get("status") or {}).get("state") == "JOB_STATE_CANCELLED" and is_true(o, "Stalled"),
        timeout=90,
        what="cancelled",
    )
    stalled = condition(obj, "Stalled")
    tokens = obj["status"]["tuningDataStats"]["totalBillableTokenCount"]
    assert stalled["reason"] == "PolicyDenied"  # type: ignore[index]
    assert stalled["message"].startswith(  # type: ignore[index]
        f"status.tuningDataStats.totalBillableTokenCount: {tokens} billable tokens is more than TuningTenant "
        f"'{namespace}-tenant' allows per job (limits.maxBillableTokensPerJob: 1000)"
    )
    assert int(tokens) > 1000
    assert emulator.count("tuningJobs.cancel") >= 1
    assert not is_true(obj, "Ready")
