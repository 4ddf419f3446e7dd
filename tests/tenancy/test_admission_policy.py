"""The tenancy ValidatingAdmissionPolicy on a real API server: `kubectl apply` refuses every escape.

The policy and binding are the ones the chart ships (the chart test compares them); the messages must be
exactly the operator's (controller.tenancy.rules), so a user reads the same sentence at apply time and in
a condition.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from controller.api.resource import GROUP, VERSION
from controller.tenancy.admission import POLICY_NAME, admission_policy, admission_policy_binding
from controller.tenancy.rules import violations
from controller.testenv.controlplane import ControlPlane
from tenancy.cases import ESCAPES, Escape, job, tenant_a, tenant_b, where

TEAM_LABEL = "tenancy.example.com/team"


@pytest.fixture(scope="module")
def policy(crds: ControlPlane) -> Iterator[ControlPlane]:
    documents = "".join(f"---\n{json.dumps(d)}\n" for d in (admission_policy(), admission_policy_binding()))
    # The chart's install test may have left the same policy behind (owned by Helm): take it over.
    crds.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=documents)
    yield crds
    crds.kubectl(
        "delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", POLICY_NAME, check=False
    )


@pytest.fixture(scope="module")
def world(policy: ControlPlane) -> Iterator[dict[str, Any]]:
    """Two tenant namespaces (one named, one labelled) and a third no tenant covers."""
    suffix = uuid.uuid4().hex[:8]
    names = {"a": f"ta-{suffix}", "b": f"tb-{suffix}", "none": f"tn-{suffix}"}
    label = f"b-{suffix}"
    with policy.api_client() as api:
        core = k8s.CoreV1Api(api)
        custom = k8s.CustomObjectsApi(api)
        core.create_namespace({"metadata": {"name": names["a"]}})
        core.create_namespace({"metadata": {"name": names["b"], "labels": {TEAM_LABEL: label}}})
        core.create_namespace({"metadata": {"name": names["none"]}})
        a = tenant_a(f"team-a-{suffix}", namespaces=[names["a"]])
        b = tenant_b(f"team-b-{suffix}", label=label)
        for tenant in (a, b):
            custom.create_cluster_custom_object(GROUP, VERSION, "tuningtenants", tenant)
        yield {"ns": names, "a": a, "b": b, "custom": custom}
        for tenant in (a, b):
            with contextlib.suppress(k8s.ApiException):
                custom.delete_cluster_custom_object(
                    GROUP, VERSION, "tuningtenants", tenant["metadata"]["name"]
                )
        for namespace in names.values():
            with contextlib.suppress(k8s.ApiException):
                core.delete_namespace(namespace)


def _apply(cp: ControlPlane, obj: dict[str, Any]) -> tuple[bool, str]:
    result = cp.kubectl("apply", "-f", "-", input=json.dumps(obj), check=False)
    return result.returncode == 0, result.stderr


def _apply_eventually_refused(cp: ControlPlane, obj: dict[str, Any], timeout: float = 20) -> str:
    """The policy, binding and params reach the admission plugin within a second or so of being written."""
    deadline = time.monotonic() + timeout
    while True:
        ok, stderr = _apply(cp, obj)
        if not ok or time.monotonic() > deadline:
            assert not ok, f"{obj['metadata']['name']} was admitted"
            return stderr
        cp.kubectl("delete", "tuningjob", "-n", obj["metadata"]["namespace"], obj["metadata"]["name"])
        time.sleep(0.5)


def _expected(obj: dict[str, Any], tenant: dict[str, Any]) -> str:
    spec = obj["spec"]
    return violations(spec, tenant, where(spec, tenant))[0]


@pytest.mark.parametrize("escape", ESCAPES, ids=[e.id for e in ESCAPES])
def test_every_escape_is_refused_at_apply_naming_field_and_tenant(
    policy: ControlPlane, world: dict[str, Any], escape: Escape
) -> None:
    obj = escape.apply_to(job(world["ns"]["a"], escape.id))
    stderr = _apply_eventually_refused(policy, obj)
    assert f"ValidatingAdmissionPolicy '{POLICY_NAME}'" in stderr
    assert _expected(obj, world["a"]) in stderr, stderr
    assert escape.field in stderr


def test_a_job_within_its_tenant_is_admitted(policy: ControlPlane, world: dict[str, Any]) -> None:
    _apply_eventually_refused(policy, ESCAPES[0].apply_to(job(world["ns"]["a"], "warm-up")))
    ok, stderr = _apply(policy, job(world["ns"]["a"], "within"))
    assert ok, stderr


def test_a_tenant_selected_by_label_refuses_the_other_tenants_project(
    policy: ControlPlane, world: dict[str, Any]
) -> None:
    namespace = world["ns"]["b"]
    theirs = job(namespace, "steal-project")
    theirs["spec"]["supervisedTuningSpec"]["trainingDatasetUri"] = "gs://team-b-data/train.jsonl"
    stderr = _apply_eventually_refused(policy, theirs)
    assert _expected(theirs, world["b"]) in stderr
    assert f"TuningTenant '{world['b']['metadata']['name']}'" in stderr
    own = job(namespace, "own-project", projectID="proj-team-b")
    own["spec"]["supervisedTuningSpec"]["trainingDatasetUri"] = "gs://team-b-data/train.jsonl"
    ok, stderr = _apply(policy, own)
    assert ok, stderr
    # Without a projectID the tenant's default applies, and it is theirs.
    default = job(namespace, "default-project")
    default["spec"].pop("projectID")
    default["spec"]["supervisedTuningSpec"] = own["spec"]["supervisedTuningSpec"]
    ok, stderr = _apply(policy, default)
    assert ok, stderr


def test_an_uncovered_namespace_is_left_to_the_operator(policy: ControlPlane, world: dict[str, Any]) -> None:
    _apply_eventually_refused(policy, ESCAPES[0].apply_to(job(world["ns"]["a"], "warm-up-2")))
    ok, stderr = _apply(policy, job(world["ns"]["none"], "anything", projectID="proj-team-b"))
    assert ok, stderr


def test_a_tenant_edit_changes_what_is_admitted(policy: ControlPlane, world: dict[str, Any]) -> None:
    escape = next(e for e in ESCAPES if e.id == "base-model-not-allowed")
    obj = escape.apply_to(job(world["ns"]["a"], "pro-model"))
    _apply_eventually_refused(policy, obj)
    name = world["a"]["metadata"]["name"]
    world["custom"].patch_cluster_custom_object(
        GROUP,
        VERSION,
        "tuningtenants",
        name,
        {"spec": {"baseModels": ["gemini-2.5-flash", "gemini-2.5-pro"]}},
    )
    try:
        deadline = time.monotonic() + 20
        while not (admitted := _apply(policy, obj))[0] and time.monotonic() < deadline:
            time.sleep(0.5)
        assert admitted[0], admitted[1]
    finally:
        world["custom"].patch_cluster_custom_object(
            GROUP, VERSION, "tuningtenants", name, {"spec": {"baseModels": ["gemini-2.5-flash"]}}
        )


def test_the_tenant_schema_refuses_a_default_outside_its_list(
    policy: ControlPlane, world: dict[str, Any]
) -> None:
    bad = tenant_a(f"bad-{uuid.uuid4().hex[:6]}", namespaces=["nowhere"])
    bad["spec"]["defaultProject"] = "proj-elsewhere"
    bad["spec"]["datasetURIPrefixes"] = ["gs://team-a-data/no-trailing-slash"]
    ok, stderr = _apply(policy, bad)
    assert not ok
    assert "defaultProject must be one of projects" in stderr
    assert "spec.datasetURIPrefixes[0]" in stderr


def test_a_tenant_that_requires_the_dataset_preflight_refuses_skipping_it(
    policy: ControlPlane, world: dict[str, Any]
) -> None:
    name = world["a"]["metadata"]["name"]
    world["custom"].patch_cluster_custom_object(
        GROUP, VERSION, "tuningtenants", name, {"spec": {"requireDatasetPreflight": True}}
    )
    try:
        skipping = job(world["ns"]["a"], "skips-preflight", preflight={"mode": "Skip"})
        stderr = _apply_eventually_refused(policy, skipping)
        tenant = {**world["a"], "spec": {**world["a"]["spec"], "requireDatasetPreflight": True}}
        assert _expected(skipping, tenant) in stderr, stderr
        assert "spec.preflight.mode: Skip is not allowed by TuningTenant" in stderr
        for mode in ("Required", None):
            preflight = {"mode": mode} if mode else {"strict": True}
            ok, stderr = _apply(
                policy, job(world["ns"]["a"], f"checked-{mode or 'default'}".lower(), preflight=preflight)
            )
            assert ok, stderr
    finally:
        world["custom"].patch_cluster_custom_object(
            GROUP, VERSION, "tuningtenants", name, {"spec": {"requireDatasetPreflight": None}}
        )
