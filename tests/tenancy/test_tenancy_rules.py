"""The operator's side of tenancy, on plain objects: rules, namespace matching, decisions, the job line.

The API server's side (the admission policy) is held to the same cases and messages in
test_admission_policy.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from controller.api.conditions import Reason
from controller.runtime.store import Store
from controller.tenancy import Tenancy
from controller.tenancy.matching import selector_matches
from controller.tenancy.queue import Reservations
from controller.tenancy.rules import Where, violations
from tenancy.cases import ESCAPES, TEAM_A_SA, TEAM_A_TRAINER, Escape, job, tenant_a, tenant_b, where

_uids = itertools.count(1)


def _tenancy(
    *tenants: dict[str, Any], namespaces: dict[str, dict[str, str]] | None = None, **kw: Any
) -> Tenancy:
    tenant_store, ns_store, job_store = Store(), Store(), Store()
    for tenant in tenants:
        tenant_store.upsert(tenant)
    for name, labels in (namespaces or {"team-a": {}}).items():
        ns_store.upsert({"metadata": {"name": name, "labels": labels}})
    return Tenancy(tenant_store, ns_store, job_store, default_location="us-central1", **kw)


def _job(
    namespace: str = "team-a", name: str = "tune", created: str = "2026-01-01T00:00:00Z", **spec: Any
) -> dict[str, Any]:
    obj = job(namespace, name, **spec)
    obj["metadata"].update(uid=f"uid-{next(_uids)}", creationTimestamp=created)
    return obj


def test_a_job_within_its_tenant_breaks_no_rule() -> None:
    assert violations(job("team-a")["spec"], tenant_a(), Where("proj-team-a", "us-central1")) == []
    allowed = job("team-a", serviceAccount=TEAM_A_TRAINER)
    allowed["spec"]["supervisedTuningSpec"]["validationDatasetUri"] = "gs://team-a-data/tuning/v/val.jsonl"
    assert violations(allowed["spec"], tenant_a(), Where("proj-team-a", "europe-west4")) == []


@pytest.mark.parametrize("escape", ESCAPES, ids=[e.id for e in ESCAPES])
def test_each_escape_breaks_exactly_its_rule_and_the_message_names_field_and_tenant(escape: Escape) -> None:
    obj = escape.apply_to(job("team-a"))
    spec = obj["spec"]
    found = violations(spec, tenant_a(), where(spec, tenant_a()))
    assert len(found) == 1, found
    assert found[0].startswith(escape.field + ":")
    assert "TuningTenant 'team-a'" in found[0]
    assert escape.rule.split(".")[-1] in found[0]


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),  # an empty selector matches everything, as in Kubernetes
        ({"matchLabels": {"team": "b"}}, {"team": "b"}, True),
        ({"matchLabels": {"team": "b"}}, {"team": "a"}, False),
        ({"matchLabels": {"team": "b"}}, {}, False),
        (
            {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "b"]}]},
            {"team": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}, {}, False),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]}, {"team": "a"}, False),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, {"team": ""}, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, {"team": ""}, False),
    ],
)
def test_label_selector_semantics(selector: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert selector_matches(selector, labels) is expected


def test_without_tenants_the_operator_behaves_as_for_one_team() -> None:
    decision = _tenancy().admit(_job(projectID="anything-goes"))
    assert decision.allowed and decision.identity is None and decision.tenant is None


def test_strict_mode_refuses_a_namespace_no_tenant_covers() -> None:
    tenancy = _tenancy(tenant_a(), namespaces={"team-a": {}, "stray": {}}, strict=True)
    decision = tenancy.admit(_job("stray"))
    assert not decision.allowed and decision.reason is Reason.NO_TENANT
    assert "namespace stray" in decision.message and "strict" in decision.message
    assert tenancy.admit(_job("team-a")).allowed


def test_tenant_by_label_gives_its_identity_and_default_project() -> None:
    tenancy = _tenancy(tenant_a(), tenant_b(), namespaces={"b-ml": {"tenancy.example.com/team": "b"}})
    obj = _job("b-ml", projectID=None, location=None)
    obj["spec"].pop("projectID")
    obj["spec"]["supervisedTuningSpec"]["trainingDatasetUri"] = "gs://team-b-data/x.jsonl"
    decision = tenancy.admit(obj)
    assert decision.allowed, decision.message
    assert (decision.tenant, decision.identity, decision.project) == (
        "team-b",
        tenant_b()["spec"]["googleServiceAccount"],
        "proj-team-b",
    )
    assert tenancy.admit(_job("b-ml")).reason is Reason.POLICY_DENIED  # proj-team-a is team-a's


def test_a_namespace_covered_twice_creates_nothing() -> None:
    tenancy = _tenancy(tenant_a(), tenant_a("team-a-again"))
    decision = tenancy.admit(_job())
    assert not decision.allowed and decision.reason is Reason.POLICY_DENIED
    assert "team-a, team-a-again" in decision.message


def test_a_created_job_is_followed_with_the_tenants_identity_whatever_the_tenant_says_now() -> None:
    obj = _job(projectID="proj-team-b")
    obj["status"] = {"name": "projects/1/locations/us-central1/tuningJobs/2"}
    decision = _tenancy(tenant_a()).admit(obj)
    assert decision.allowed and decision.identity == TEAM_A_SA


def test_a_tuned_model_in_a_tenant_namespace_must_bring_its_own_key() -> None:
    model: dict[str, Any] = {
        "kind": "TunedModel",
        "metadata": {"name": "m", "namespace": "team-a"},
        "spec": {},
    }
    decision = _tenancy(tenant_a()).admit(model)
    assert not decision.allowed and decision.message.startswith("spec.apiKeySecretRef:")
    model["spec"]["apiKeySecretRef"] = {"name": "gemini", "key": "key"}
    assert _tenancy(tenant_a()).admit(model).allowed


def _limited(limit: int) -> dict[str, Any]:
    tenant = tenant_a()
    tenant["spec"]["limits"]["maxActiveJobs"] = limit
    return tenant


def test_jobs_beyond_the_limit_wait_in_creation_order_and_start_as_places_free() -> None:
    tenancy = _tenancy(_limited(2))
    assert tenancy.tuning_jobs is not None
    jobs = [_job(name=f"job-{i}", created=f"2026-01-01T00:00:0{i}Z") for i in range(5)]
    for obj in reversed(jobs):  # the cache's order must not matter
        tenancy.tuning_jobs.upsert(obj)
    decisions = [tenancy.admit(obj) for obj in jobs]
    assert [d.allowed for d in decisions] == [True, True, False, False, False]
    assert all(d.reason is Reason.WAITING_FOR_TENANT_QUOTA for d in decisions[2:])
    assert ["number 1 of 3" in decisions[2].message, "number 3 of 3" in decisions[4].message] == [True, True]
    # Granted but not yet visible as created: still no third place.
    assert not tenancy.admit(jobs[2]).allowed
    for obj in jobs[:2]:
        obj["status"] = {"createRequestedTime": "2026-01-01T00:01:00Z", "state": "JOB_STATE_RUNNING"}
    assert not tenancy.admit(jobs[2]).allowed
    jobs[0]["status"]["state"] = "JOB_STATE_SUCCEEDED"
    assert tenancy.admit(jobs[3]).reason is Reason.WAITING_FOR_TENANT_QUOTA  # job-2 comes first
    assert tenancy.admit(jobs[2]).allowed
    assert not tenancy.admit(jobs[3]).allowed


def test_the_line_is_rebuilt_from_the_cluster_after_a_restart() -> None:
    """A new process (fresh reservations) sees the recorded intents and grants no extra place."""
    tenant = _limited(1)
    first = _tenancy(tenant)
    assert first.tuning_jobs is not None
    a, b = _job(name="a", created="2026-01-01T00:00:01Z"), _job(name="b", created="2026-01-01T00:00:02Z")
    first.tuning_jobs.upsert(a)
    first.tuning_jobs.upsert(b)
    assert first.admit(a).allowed
    a["status"] = {"createRequestedTime": "2026-01-01T00:01:00Z"}
    restarted = Tenancy(first.tenants, first.namespaces, first.tuning_jobs, reservations=Reservations())
    assert restarted.admit(b).reason is Reason.WAITING_FOR_TENANT_QUOTA


def test_a_refused_create_frees_its_place() -> None:
    tenancy = _tenancy(_limited(1))
    assert tenancy.tuning_jobs is not None
    a, b = _job(name="a", created="2026-01-01T00:00:01Z"), _job(name="b", created="2026-01-01T00:00:02Z")
    a["status"] = {
        "createRequestedTime": "2026-01-01T00:01:00Z",
        "conditions": [{"type": "Stalled", "status": "True", "reason": "PermissionDenied"}],
    }
    tenancy.tuning_jobs.upsert(a)
    tenancy.tuning_jobs.upsert(b)
    assert tenancy.admit(b).allowed


def test_jobs_that_break_a_rule_do_not_hold_up_the_line() -> None:
    tenancy = _tenancy(_limited(1))
    assert tenancy.tuning_jobs is not None
    bad = _job(name="bad", created="2026-01-01T00:00:01Z", baseModel="gemini-2.5-pro")
    good = _job(name="good", created="2026-01-01T00:00:02Z")
    tenancy.tuning_jobs.upsert(bad)
    tenancy.tuning_jobs.upsert(good)
    assert tenancy.admit(bad).reason is Reason.POLICY_DENIED
    assert tenancy.admit(good).allowed


def test_a_tenant_that_requires_the_dataset_preflight_refuses_warn_only_and_skip() -> None:
    tenant = tenant_a()
    tenant["spec"]["requireDatasetPreflight"] = True
    for mode in ("Skip", "WarnOnly"):
        spec = job("team-a", preflight={"mode": mode})["spec"]
        assert violations(spec, tenant, where(spec, tenant)) == [
            f"spec.preflight.mode: {mode} is not allowed by TuningTenant 'team-a' (requireDatasetPreflight: "
            "the dataset must be checked; use Required or leave it out)"
        ]
    for preflight in ({"mode": "Required"}, {"strict": True}, None):
        spec = job("team-a", **({"preflight": preflight} if preflight else {}))["spec"]
        assert violations(spec, tenant, where(spec, tenant)) == []
    skipping = job("team-a", preflight={"mode": "Skip"})["spec"]
    assert violations(skipping, tenant_a(), where(skipping, tenant_a())) == [], "only when the tenant asks"
