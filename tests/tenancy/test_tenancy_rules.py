"""The operator's side of tenancy, on plain objects: rules, namespace matching, decisions, the job line.

The API server's side (the admission policy) is held to the same cases and messages in
test_admission_policy.py.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from controller.api.conditions import Reason
from controller.external import CREATE_INTENT_ANNOTATION
from controller.runtime.store import Store
from controller.tenancy import Tenancy
from controller.tenancy.matching import selector_matches
from controller.tenancy.queue import Reservations
from controller.tenancy.rules import Where, violations
from tenancy.cases import (
    ESCAPES,
    TEAM_A_DATASETS,
    TEAM_A_SA,
    TEAM_A_TRAINER,
    Escape,
    job,
    tenant_a,
    tenant_b,
    where,
)

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
    dataset = job("team-a")
    dataset["spec"]["supervisedTuningSpec"]["trainingDatasetUri"] = TEAM_A_DATASETS + "123"
    assert violations(dataset["spec"], tenant_a(), Where("proj-team-a", "us-central1")) == []
    preference = job("team-a")
    del preference["spec"]["supervisedTuningSpec"]
    preference["spec"]["preferenceOptimizationSpec"] = {
        "trainingDatasetUri": "gs://team-a-data/tuning/preferences.jsonl",
        "hyperParameters": {"epochCount": 5},
    }
    assert violations(preference["spec"], tenant_a(), Where("proj-team-a", "us-central1")) == []


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


def _looked_up(obj: dict[str, Any]) -> dict[str, Any]:
    """As the reconciler leaves a job whose look-up found no remote job and which waits its turn."""
    waiting = {"type": "Reconciling", "status": "True", "reason": "WaitingForTenantQuota", "message": ""}
    obj["status"] = {"observedGeneration": 1, "conditions": [waiting]}
    return obj


def _intent(obj: dict[str, Any], **status: Any) -> None:
    """The create intent recorded (the annotation the reconciler writes before the create call)."""
    obj["metadata"]["annotations"] = {CREATE_INTENT_ANNOTATION: "2026-01-01T00:01:00Z"}
    obj["status"] = dict(status)


def _line(tenancy: Tenancy, *jobs: dict[str, Any]) -> None:
    """Put the jobs, as they are now, into the cache (again, after a change: it holds copies)."""
    assert tenancy.tuning_jobs is not None
    for obj in reversed(jobs):  # the cache's order must not matter
        tenancy.tuning_jobs.upsert(obj)


def _jobs(count: int) -> list[dict[str, Any]]:
    return [_looked_up(_job(name=f"job-{i}", created=f"2026-01-01T00:00:0{i}Z")) for i in range(count)]


def test_admission_never_queues_only_a_create_does() -> None:
    tenancy = _tenancy(_limited(1))
    a, b = _jobs(2)
    _intent(a, name="projects/1/locations/us-central1/tuningJobs/1", state="JOB_STATE_RUNNING")
    _line(tenancy, a, b)
    assert tenancy.admit(b).allowed  # the look-up (and adoption, if it finds b's job) may go ahead
    decision = tenancy.may_create(b)
    assert not decision.allowed and decision.reason is Reason.WAITING_FOR_TENANT_QUOTA and decision.waiting


def test_creates_go_one_at_a_time_in_creation_order_as_places_free() -> None:
    tenancy = _tenancy(_limited(2))
    jobs = _jobs(5)
    _line(tenancy, *jobs)
    assert tenancy.may_create(jobs[0]).allowed
    assert tenancy.may_create(jobs[0]).allowed  # its own grant, asked again (a conflict on the intent write)
    # A place is free, but job-0's create (granted, its intent not in the cache yet) goes first.
    second = tenancy.may_create(jobs[1])
    assert not second.allowed and "the create of team-a/job-0 goes first" in second.message
    _intent(jobs[0])  # the intent is in the cache; the create call is under way
    _line(tenancy, jobs[0])
    assert not tenancy.may_create(jobs[1]).allowed
    jobs[0]["status"] = {
        "name": "projects/1/locations/us-central1/tuningJobs/0",
        "state": "JOB_STATE_PENDING",
    }
    _line(tenancy, jobs[0])
    assert not tenancy.may_create(jobs[2]).allowed  # job-1 comes first
    assert tenancy.may_create(jobs[1]).allowed
    _intent(jobs[1], name="projects/1/locations/us-central1/tuningJobs/1", state="JOB_STATE_RUNNING")
    _line(tenancy, jobs[1])
    full = tenancy.may_create(jobs[4])
    assert not full.allowed
    assert "(2 of 2 in use)" in full.message and "number 3 of 3 in line" in full.message, full.message
    jobs[0]["status"]["state"] = "JOB_STATE_SUCCEEDED"
    _line(tenancy, jobs[0])
    assert not tenancy.may_create(jobs[3]).allowed  # job-2 comes first
    assert tenancy.may_create(jobs[2]).allowed
    assert not tenancy.may_create(jobs[3]).allowed


def test_two_workers_asking_at_once_get_one_place() -> None:
    tenancy = _tenancy(_limited(2))
    jobs = _jobs(4)
    _line(tenancy, *jobs)
    barrier = threading.Barrier(len(jobs))

    def ask(obj: dict[str, Any]) -> bool:
        barrier.wait()
        return tenancy.may_create(obj).allowed

    with ThreadPoolExecutor(len(jobs)) as pool:
        granted = list(pool.map(ask, jobs))
    assert granted == [True, False, False, False]


def test_the_line_is_rebuilt_from_the_cluster_after_a_restart() -> None:
    """A new process (fresh reservations) sees the recorded intents and grants nothing out of turn."""
    first = _tenancy(_limited(2))
    a, b, c = _jobs(3)
    _line(first, a, b, c)
    assert first.may_create(a).allowed
    _intent(a)  # killed after the intent write: maybe before, maybe after the create call
    _line(first, a)
    restarted = Tenancy(first.tenants, first.namespaces, first.tuning_jobs, reservations=Reservations())
    assert restarted.may_create(b).reason is Reason.WAITING_FOR_TENANT_QUOTA  # a's create is not settled
    assert restarted.may_create(a).allowed  # a itself goes on with its create-exactly-once protocol
    a["status"] = {"name": "projects/1/locations/us-central1/tuningJobs/0", "state": "JOB_STATE_RUNNING"}
    _line(first, a)
    assert restarted.may_create(b).allowed


def test_a_job_not_looked_up_yet_counts_as_possibly_running() -> None:
    """After a rebuild a younger job's remote job may be running: nobody creates until it is looked up."""
    tenancy = _tenancy(_limited(1))
    older = _looked_up(_job(name="older", created="2026-01-01T00:00:01Z"))
    younger = _job(name="younger", created="2026-01-01T00:00:02Z")
    _line(tenancy, older, younger)
    decision = tenancy.may_create(older)
    assert not decision.allowed and "1 not looked up yet" in decision.message, decision.message
    _intent(younger, name="projects/1/locations/us-central1/tuningJobs/9", state="JOB_STATE_RUNNING")
    _line(tenancy, younger)
    assert not tenancy.may_create(older).allowed  # adopted: it holds the place
    younger["status"]["state"] = "JOB_STATE_SUCCEEDED"
    _line(tenancy, younger)
    assert tenancy.may_create(older).allowed


def test_equal_timestamps_are_ordered_by_name() -> None:
    tenancy = _tenancy(_limited(1))
    b = _looked_up(_job(name="b", created="2026-01-01T00:00:01Z"))
    a = _looked_up(_job(name="a", created="2026-01-01T00:00:01Z"))
    _line(tenancy, b, a)
    assert not tenancy.may_create(b).allowed
    assert tenancy.may_create(a).allowed


def test_a_refused_create_frees_its_place() -> None:
    tenancy = _tenancy(_limited(1))
    a, b = _jobs(2)
    _intent(a, conditions=[{"type": "Stalled", "status": "True", "reason": "PermissionDenied"}])
    _line(tenancy, a, b)
    assert tenancy.may_create(b).allowed


def test_a_stalled_older_job_does_not_hold_up_the_line() -> None:
    tenancy = _tenancy(_limited(1))
    stuck, ready = _jobs(2)
    stuck["status"] = {"conditions": [{"type": "Stalled", "status": "True", "reason": "SecretNotFound"}]}
    _line(tenancy, stuck, ready)
    assert tenancy.may_create(ready).allowed


def test_jobs_that_break_a_rule_do_not_hold_up_the_line() -> None:
    tenancy = _tenancy(_limited(1))
    bad = _job(name="bad", created="2026-01-01T00:00:01Z", baseModel="gemini-2.5-pro")
    good = _looked_up(_job(name="good", created="2026-01-01T00:00:02Z"))
    _line(tenancy, bad, good)
    assert tenancy.admit(bad).reason is Reason.POLICY_DENIED
    assert tenancy.may_create(good).allowed


def test_a_tenant_change_wakes_the_jobs_whose_identity_it_changes_and_every_job_not_yet_created() -> None:
    tenancy = _tenancy(tenant_a())
    shown = _job(name="shown")
    shown["status"] = {"name": "projects/1/locations/us-central1/tuningJobs/1"}
    shown["status"]["impersonatedServiceAccount"] = TEAM_A_SA
    stale = _job(name="stale")
    stale["status"] = {"name": "projects/1/locations/us-central1/tuningJobs/2"}
    stale["status"]["impersonatedServiceAccount"] = "old@proj-team-a.iam.gserviceaccount.com"
    waiting = _looked_up(_job(name="waiting"))
    _line(tenancy, shown, stale, waiting)
    assert tenancy.keys_for_tenant(tenant_a()) == ["team-a/stale", "team-a/waiting"]


def test_a_job_event_wakes_the_waiting_jobs_of_its_limited_tenant_and_no_others() -> None:
    limited = _limited(1)
    limited["spec"]["namespaces"]["names"] = ["team-a", "team-a-2"]
    tenancy = _tenancy(
        limited, tenant_b(), namespaces={"team-a": {}, "team-a-2": {}, "team-b": {}, "loose": {}}
    )
    running = _job(name="running")
    running["status"] = {
        "name": "projects/1/locations/us-central1/tuningJobs/1",
        "state": "JOB_STATE_RUNNING",
    }
    intent = _job(name="intent")
    _intent(intent)
    waiting, second = _looked_up(_job(name="waiting")), _looked_up(_job("team-a-2", name="second"))
    _line(tenancy, running, intent, waiting, second, _job("team-b", name="other"), _job("loose", name="free"))
    assert tenancy.waiting_keys("team-a") == ["team-a/waiting", "team-a-2/second"]
    assert tenancy.waiting_keys("team-a-2") == ["team-a/waiting", "team-a-2/second"]
    assert tenancy.waiting_keys("loose") == []  # no tenant: nothing waits for a place
    assert tenancy.pending_keys("team-b") == ["team-b/other"]
    assert tenancy.pending_keys() == ["loose/free", "team-a/waiting", "team-a-2/second", "team-b/other"]

    # The job that was waiting gets its create intent: it leaves the line, and a deleted one too.
    _intent(waiting)
    _line(tenancy, waiting)
    assert tenancy.waiting_keys("team-a") == ["team-a-2/second"]
    assert tenancy.tuning_jobs is not None
    tenancy.tuning_jobs.delete("team-a-2/second")
    assert tenancy.waiting_keys("team-a") == []
    # A second Tenancy over the same cache (a restart in tests) shares the index rather than failing.
    again = Tenancy(tenancy.tenants, tenancy.namespaces, tenancy.tuning_jobs)
    assert again.pending_keys() == ["loose/free", "team-b/other"]


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
