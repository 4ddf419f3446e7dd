"""Tenancy enforced by the operator, with no admission policy installed: the emulator sees only what passes.

The operator runs under its chart's rights (including the tenancy ClusterRole); TuningTenants are real
cluster-scoped objects, edited while the operator runs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s
from tenancy.cases import ESCAPES, job, tenant_a

from controller.api.resource import GROUP, VERSION
from controller.tenancy.rules import Where, violations
from e2e.conftest import OperatorFactory
from e2e.support import Resources, condition, is_true
from emulator.server import Emulator
from emulator.vertex_jobs import render_job

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
    start_operator()
    for escape in ESCAPES:
        resources.create(escape.apply_to(job(namespace, escape.id)))
    resources.create(job(namespace, "allowed"))

    for escape in ESCAPES:
        obj = resources.wait_for(escape.id, _stalled_with("PolicyDenied"), what="PolicyDenied")
        spec = obj["spec"]
        expected = violations(spec, tenant, Where(spec["projectID"], spec.get("location")))
        assert condition(obj, "Stalled")["message"] == expected[0]  # type: ignore[index]
        assert condition(obj, "Synced")["status"] == "True"  # type: ignore[index]
        assert any(e["reason"] == "PolicyDenied" for e in resources.events(escape.id))
    resources.wait_for("allowed", lambda o: is_true(o, "Ready"), timeout=90, what="Ready")

    assert emulator.count("tuningJobs.create") == 1, "a refused job reached Google"
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
            lambda o: (condition(o, "Reconciling") or {}).get("reason") == "WaitingForTenantQuota",
            what="WaitingForTenantQuota",
        )
        message = condition(waiting, "Reconciling")["message"]  # type: ignore[index]
        assert "number 3 of 3 in line" in message and "(2 of 2 in use)" in message, message
        assert condition(waiting, "Ready")["status"] == "False"  # type: ignore[index]

        # Kill the operator once the first job is done and the next ones are on their way.
        resources.wait_for("job-1", lambda o: is_true(o, "Ready"), timeout=90, what="Ready")
        operator.kill()
        start_operator()
        for name in names:
            resources.wait_for(name, lambda o: is_true(o, "Ready"), timeout=120, what="Ready")

    assert sampler.samples > 50
    assert sampler.peak == 2, f"at most 2 jobs may be pending or running; the emulator saw {sampler.peak}"
    assert emulator.count("tuningJobs.create") == 5
    vertex = emulator.state.vertex
    by_uid = {
        j.spec.get("labels", {}).get("vertexops-uid"): render_job(j, vertex.now())
        for j in vertex.jobs_in("proj-team-a", "us-central1")
    }
    created = [by_uid[resources.get(n)["metadata"]["uid"]]["createTime"] for n in names]  # type: ignore[index]
    assert created == sorted(created), "jobs must start in creation order"
