"""The create-exactly-once and delete protocols of `controller.reconciler`, one reconcile at a time.

The reconciler runs in the test process (so a mutation tool can tell which of its functions these tests
cover), against the real kube-apiserver and the emulator, with the real TuningJob backend. Each test
drives it step by step, reading the object fresh from the API server into the reconciler's cache before
each reconcile, as the informer would, and checks what reached the API server and Google after each step:
the intent and finalizer are written before the create call and only on the version observed, a create
is sent once however the step before it ended, and a deletion removes the finalizer only once nothing it
guards can still be running.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from e2e.support import tuning_job
from kubernetes import client as k8s
from prometheus_client import generate_latest

from controller.api.base import format_timestamp
from controller.backends.tuningjob import TuningJobBackend, VertexSettings
from controller.backends.vertex_poller import MANAGED_BY_LABEL, MANAGED_BY_VALUE, UID_LABEL
from controller.external import CREATE_INTENT_ANNOTATION
from controller.google.errors import NotFoundError
from controller.google.vertex import VertexClient
from controller.manager_cli import TUNINGJOBS
from controller.reconciler import FINALIZER, Reconciler, ReconcilerSettings
from controller.runtime.events import EventRecorder
from controller.runtime.kubeapi import ApiError, KubeApi
from controller.runtime.manager import Result
from controller.runtime.metrics import Metrics
from controller.runtime.store import Store, strip_for_cache
from controller.testenv.controlplane import ControlPlane
from controller.testenv.google_credentials import inspector_auth
from emulator.config import EmulatorConfig
from emulator.server import Emulator

PROJECT, LOCATION = "protocol-test", "us-central1"
GRACE = 30.0  # create_grace_seconds: how long a recorded intent with nothing found is trusted to be in flight
CANCEL_SECONDS = 20.0  # simulated seconds a cancelled job stays CANCELLING


@pytest.fixture
def emu() -> Iterator[Emulator]:
    # Time almost stands still (scale 0.001); the tests move jobs on with advance().
    config = EmulatorConfig(
        time_scale=0.001, pending_seconds=10, step_seconds=10, total_steps=100, cancel_seconds=CANCEL_SECONDS
    )
    with Emulator(config) as emulator:
        yield emulator


@dataclass
class Harness:
    """One in-process reconciler of TuningJobs, its cache filled by hand, and what it talks to."""

    api: KubeApi
    store: Store
    reconciler: Reconciler
    emu: Emulator
    client: VertexClient
    namespace: str
    # The backend's monotonic clock, moved on before each reconcile so that no listing of an earlier step
    # is fresh enough to be reused: each step sees what Google holds at that moment.
    clock_offset: list[float] = field(default_factory=lambda: [0.0])

    def apply(self, name: str, annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
        body = tuning_job(name, **spec)
        if annotations:
            body["metadata"]["annotations"] = annotations
        return self.api.create(TUNINGJOBS.collection_path(self.namespace), body)

    def path(self, name: str) -> str:
        return TUNINGJOBS.object_path(name, self.namespace)

    def get(self, name: str) -> dict[str, Any] | None:
        try:
            return self.api.get(self.path(name))
        except ApiError as err:
            if err.not_found:
                return None
            raise

    def cache(self, name: str) -> dict[str, Any]:
        """Put the object as the API server has it now into the reconciler's cache (the informer's job)."""
        obj = self.get(name)
        assert obj is not None, f"{name} is gone"
        self.store.upsert(strip_for_cache(obj))
        return obj

    def reconcile(self, name: str) -> Result:
        self.clock_offset[0] += 3.0  # longer than any listing is reused for
        obj = self.get(name)
        if obj is None:
            self.store.delete(f"{self.namespace}/{name}")
        else:
            self.store.upsert(strip_for_cache(obj))
        return self.reconciler(TUNINGJOBS.plural, f"{self.namespace}/{name}")

    def jobs_of(self, obj: dict[str, Any]) -> list[Any]:
        """Every Vertex job carrying the resource's UID label."""
        uid = obj["metadata"]["uid"]
        return [j for j in self.client.iter_tuning_jobs(PROJECT, LOCATION) if j.labels.get(UID_LABEL) == uid]

    def creates(self) -> int:
        return self.emu.count("tuningJobs.create")

    def cancels(self) -> int:
        return self.emu.count("tuningJobs.cancel")


@pytest.fixture
def harness(
    crds: ControlPlane, api_client: k8s.ApiClient, namespace: str, emu: Emulator
) -> Iterator[Harness]:
    api = KubeApi(api_client)
    offset = [0.0]
    clock: Callable[[], float] = lambda: time.monotonic() + offset[0]  # noqa: E731
    # A short timeout, so a create the emulator answers late is a create whose answer was lost.
    client = VertexClient(base_url=emu.url, auth=inspector_auth(emu), timeout=2.0)
    backend = TuningJobBackend(
        client,
        VertexSettings(default_project=PROJECT, poll_min_seconds=1.0, poll_max_seconds=1.0),
        clock=clock,
    )
    store = Store()
    reconciler = Reconciler(
        "TuningJob",
        TUNINGJOBS,
        backend,
        api=api,
        store=store,
        events=EventRecorder(api),
        metrics=Metrics(),
        settings=ReconcilerSettings(create_grace_seconds=GRACE, delete_poll_seconds=1.0),
    )
    with client:
        yield Harness(api, store, reconciler, emu, client, namespace, offset)


def _job_of_resource(harness: Harness, obj: dict[str, Any]) -> Any:
    """A job as the operator's create makes it for `obj` (its labels), sent by the test itself."""
    labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, UID_LABEL: obj["metadata"]["uid"]}
    body = {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {"trainingDatasetUri": "gs://vertexops-test/train.jsonl"},
        "labels": labels,
    }
    return harness.client.create_tuning_job(PROJECT, LOCATION, body)


def _ago(seconds: float) -> str:
    return format_timestamp(datetime.now(UTC) - timedelta(seconds=seconds))


# -- create ----------------------------------------------------------------------------------------------


def test_one_reconcile_writes_the_intent_and_finalizer_then_creates_one_job(harness: Harness) -> None:
    harness.apply("first")
    result = harness.reconcile("first")

    obj = harness.get("first")
    assert obj is not None
    assert obj["metadata"]["finalizers"] == [FINALIZER]
    assert CREATE_INTENT_ANNOTATION in obj["metadata"]["annotations"]
    jobs = harness.jobs_of(obj)
    assert [j.name for j in jobs] == [obj["status"]["name"]], "one job, named in status"
    assert obj["status"]["createRequestedTime"] == obj["metadata"]["annotations"][CREATE_INTENT_ANNOTATION]
    assert result.requeue_after is not None and result.requeue_after >= 0, "a created job is polled"
    assert harness.creates() == 1
    assert ("Normal", "Created", f"created tuning job {obj['status']['name']}") in _events(harness, obj)

    for _ in range(3):  # later reconciles follow the job; none creates again
        harness.reconcile("first")
    assert harness.creates() == 1
    assert len(harness.jobs_of(obj)) == 1


def test_a_reconcile_on_an_outdated_object_creates_nothing(harness: Harness) -> None:
    harness.apply("stale")
    harness.cache("stale")
    # Someone writes the object after the cache saw it; the cache has not caught up.
    harness.api.merge_patch(harness.path("stale"), {"metadata": {"labels": {"team": "a"}}})

    result = harness.reconciler(TUNINGJOBS.plural, f"{harness.namespace}/stale")

    assert harness.creates() == 0, "the intent write failed its precondition, so nothing was created"
    assert result.requeue_after == 1.0, "looked at again soon"
    obj = harness.get("stale")
    assert obj is not None
    assert CREATE_INTENT_ANNOTATION not in (obj["metadata"].get("annotations") or {})
    assert FINALIZER not in (obj["metadata"].get("finalizers") or [])

    harness.reconcile("stale")  # from the newer version it goes on
    assert harness.creates() == 1


def test_a_create_whose_answer_was_lost_is_found_by_its_uid_not_sent_again(harness: Harness) -> None:
    # The emulator creates the job but answers after the client has given up.
    harness.emu.add_fault("latency", "tuningJobs.create", latency_seconds=3.0, times=1)
    harness.apply("lost")
    result = harness.reconcile("lost")
    assert result.requeue_after == 0, "a transient error: the manager retries with its backoff"
    obj = harness.get("lost")
    assert obj is not None
    synced = next(c for c in obj["status"]["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "APIError"), synced
    assert CREATE_INTENT_ANNOTATION in obj["metadata"]["annotations"], "the intent was written first"
    assert FINALIZER in obj["metadata"]["finalizers"], "and the finalizer with it"
    assert not (obj.get("status") or {}).get("name")
    # The server-side create lands once the emulator's delay is over.
    _wait_for(lambda: len(harness.jobs_of(obj)) == 1, "the late job to appear")

    harness.reconcile("lost")
    obj = harness.get("lost")
    assert obj is not None
    assert obj["status"]["name"] == harness.jobs_of(obj)[0].name, "adopted by its UID label"
    assert harness.creates() == 1


def test_an_intent_with_nothing_found_waits_out_the_grace_before_creating(harness: Harness) -> None:
    # As a crash right after the intent write leaves it: intent and finalizer, no job, no name.
    harness.apply("crashed", annotations={CREATE_INTENT_ANNOTATION: _ago(1)})
    harness.api.merge_patch(harness.path("crashed"), {"metadata": {"finalizers": [FINALIZER]}})

    result = harness.reconcile("crashed")
    assert harness.creates() == 0, "a create sent just before the crash may still appear"
    assert result.requeue_after == GRACE / 3, "looked at again a few times within the grace"

    # Once the grace has passed with still nothing found, the create is sent, once.
    harness.api.merge_patch(
        harness.path("crashed"), {"metadata": {"annotations": {CREATE_INTENT_ANNOTATION: _ago(GRACE + 10)}}}
    )
    harness.reconcile("crashed")
    harness.reconcile("crashed")
    obj = harness.get("crashed")
    assert obj is not None
    assert harness.creates() == 1
    assert [j.name for j in harness.jobs_of(obj)] == [obj["status"]["name"]]


def test_an_absence_counts_from_when_the_listing_started_not_from_when_it_is_read(harness: Harness) -> None:
    """A listing reused from a few seconds ago may predate a create still on its way: the grace is measured
    to the start of the listing that found nothing, not to the reconcile reading it."""
    harness.apply("lister")
    harness.reconcile("lister")  # a listing of the location, started now
    time.sleep(3.0)
    harness.clock_offset[0] -= 3.5  # ... and still fresh enough to be reused by the next look-up
    # By the wall clock the intent is past the grace; by the listing's start it is 2 s short of it.
    harness.apply("late", annotations={CREATE_INTENT_ANNOTATION: _ago(GRACE + 1)})
    harness.api.merge_patch(harness.path("late"), {"metadata": {"finalizers": [FINALIZER]}})
    harness.cache("late")
    creates = harness.creates()

    result = harness.reconciler(TUNINGJOBS.plural, f"{harness.namespace}/late")

    assert harness.creates() == creates, "nothing created on an absence the listing cannot vouch for"
    assert result.requeue_after is not None and 0 < result.requeue_after <= 3.0


def test_an_intent_whose_job_exists_is_adopted_without_a_create(harness: Harness) -> None:
    harness.apply("before-crash", annotations={CREATE_INTENT_ANNOTATION: _ago(1)})
    obj = harness.cache("before-crash")
    made = _job_of_resource(harness, obj)  # what the crashed create left
    creates_before = harness.creates()

    harness.reconcile("before-crash")

    obj = harness.get("before-crash")
    assert obj is not None
    assert obj["status"]["name"] == made.name
    assert harness.creates() == creates_before
    assert FINALIZER in obj["metadata"]["finalizers"], "an adopted job is guarded too"


def test_an_adopted_job_is_guarded_beside_other_finalizers_and_only_on_the_observed_version(
    harness: Harness,
) -> None:
    harness.apply("adopt")
    harness.api.merge_patch(harness.path("adopt"), {"metadata": {"finalizers": ["example.com/keep"]}})
    made = _job_of_resource(harness, harness.cache("adopt"))
    harness.reconcile("adopt")
    obj = harness.get("adopt")
    assert obj is not None and obj["status"]["name"] == made.name
    assert obj["metadata"]["finalizers"] == ["example.com/keep", FINALIZER], "others' finalizers are kept"

    harness.apply("adopt-stale")
    _job_of_resource(harness, harness.cache("adopt-stale"))
    harness.clock_offset[0] += 3.0
    harness.api.merge_patch(harness.path("adopt-stale"), {"metadata": {"labels": {"team": "a"}}})
    with pytest.raises(ApiError) as raised:  # the manager retries from the newer version
        harness.reconciler(TUNINGJOBS.plural, f"{harness.namespace}/adopt-stale")
    assert raised.value.conflict
    stale = harness.get("adopt-stale")
    assert stale is not None and not stale["metadata"].get("finalizers"), "nothing written on a stale version"


def test_the_intent_write_keeps_the_finalizers_of_others(harness: Harness) -> None:
    harness.apply("shared")
    harness.api.merge_patch(harness.path("shared"), {"metadata": {"finalizers": ["example.com/keep"]}})

    harness.reconcile("shared")

    obj = harness.get("shared")
    assert obj is not None and obj["status"]["name"]
    assert obj["metadata"]["finalizers"] == ["example.com/keep", FINALIZER]


# -- delete ----------------------------------------------------------------------------------------------


def _created(harness: Harness, name: str, **spec: Any) -> dict[str, Any]:
    harness.apply(name, **spec)
    harness.reconcile(name)
    harness.emu.advance(15)  # out of PENDING: running
    harness.reconcile(name)
    obj = harness.get(name)
    assert obj is not None and obj["status"]["state"] == "JOB_STATE_RUNNING", obj.get("status")
    return obj


def test_deleting_a_running_job_cancels_it_once_and_waits_for_it_to_stop(harness: Harness) -> None:
    obj = _created(harness, "running")
    harness.api.delete(harness.path("running"))

    result = harness.reconcile("running")
    assert harness.cancels() == 1
    held = harness.get("running")
    assert held is not None and FINALIZER in held["metadata"]["finalizers"], "held until the job stops"
    assert result.requeue_after == 1.0, "polled at delete_poll_seconds"
    ready = _condition(held, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Deleting")
    reconciling = _condition(held, "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "Deleting")
    assert reconciling["message"] == "deleting: waiting for the tuning job to stop (now JOB_STATE_RUNNING)"
    stalled, synced = _condition(held, "Stalled"), _condition(held, "Synced")
    assert (stalled["status"], stalled["reason"], stalled.get("message", "")) == ("False", "Deleting", "")
    assert (synced["status"], synced["reason"], synced.get("message", "")) == ("True", "ReconcileSuccess", "")

    for _ in range(3):  # still CANCELLING: no second cancel
        harness.reconcile("running")
    assert harness.cancels() == 1
    cancelling = harness.get("running")
    assert cancelling is not None
    assert _condition(cancelling, "Reconciling")["message"].endswith("(now JOB_STATE_CANCELLING)")

    assert 'vertexops_jobs{kind="TuningJob",state="JOB_STATE_CANCELLING"} 1.0' in _scrape(harness)
    harness.emu.advance(CANCEL_SECONDS + 1)
    harness.reconcile("running")
    assert harness.get("running") is None, "the finalizer went once the job was CANCELLED"
    assert 'vertexops_jobs{kind="TuningJob"' not in _scrape(harness), "a deleted resource is not counted"
    assert harness.client.get_tuning_job(obj["status"]["name"]).state == "JOB_STATE_CANCELLED"
    assert harness.cancels() == 1


def test_deleting_an_adopted_job_cancels_it_though_this_resource_never_asked_to_create(
    harness: Harness,
) -> None:
    # Found by its UID label (a rebuilt cluster, a status wiped): named in status, no create intent.
    harness.apply("adopted")
    made = _job_of_resource(harness, harness.cache("adopted"))
    harness.emu.advance(15)
    harness.reconcile("adopted")
    obj = harness.get("adopted")
    assert obj is not None and obj["status"]["name"] == made.name
    assert CREATE_INTENT_ANNOTATION not in (obj["metadata"].get("annotations") or {})
    harness.api.delete(harness.path("adopted"))

    harness.reconcile("adopted")

    assert harness.cancels() == 1, "the job it follows is its own: cancelled like one it created"
    assert harness.get("adopted") is not None, "held until the job stops"


def test_a_cancel_google_refuses_stalls_the_deletion_and_keeps_the_finalizer(harness: Harness) -> None:
    obj = _created(harness, "denied")
    harness.emu.add_fault("permission_denied", "tuningJobs.cancel", times=1)
    harness.api.delete(harness.path("denied"))

    result = harness.reconcile("denied")

    held = harness.get("denied")
    assert held is not None, "the job still runs: the resource stays"
    stalled = _condition(held, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "PermissionDenied"), stalled
    assert "aiplatform.tuningJobs.cancel" in stalled["message"], stalled
    assert result.requeue_after == ReconcilerSettings().stalled_retry_seconds
    assert any(e[:2] == ("Warning", "PermissionDenied") for e in _events(harness, obj))

    assert _condition(held, "Synced")["status"] == "False", "the refused call is not in sync"
    harness.reconcile("denied")  # the permission granted meanwhile: cancelled, then released
    assert harness.cancels() == 2
    cancelling = harness.get("denied")
    assert cancelling is not None
    synced, stalled = _condition(cancelling, "Synced"), _condition(cancelling, "Stalled")
    assert (synced["status"], synced["reason"]) == ("True", "ReconcileSuccess"), "in sync again"
    assert (stalled["status"], stalled["reason"]) == ("False", "Deleting")
    harness.emu.advance(CANCEL_SECONDS + 1)
    harness.reconcile("denied")
    assert harness.get("denied") is None


def test_a_job_that_cannot_be_located_keeps_its_finalizer_and_says_why(
    harness: Harness, emu: Emulator
) -> None:
    # An operator without a default project, and a resource naming none: its job cannot be reached.
    backend = TuningJobBackend(harness.client, VertexSettings(default_project=None))
    reconciler = Reconciler(
        "TuningJob",
        TUNINGJOBS,
        backend,
        api=harness.api,
        store=harness.store,
        events=EventRecorder(harness.api),
        metrics=Metrics(),
        settings=ReconcilerSettings(create_grace_seconds=GRACE),
    )
    harness.apply("nowhere")
    harness.api.merge_patch(harness.path("nowhere"), {"metadata": {"finalizers": [FINALIZER]}})
    job = "projects/elsewhere/locations/us-central1/tuningJobs/1"
    harness.api.merge_patch(harness.path("nowhere") + "/status", {"status": {"name": job}})
    harness.api.delete(harness.path("nowhere"))
    harness.cache("nowhere")

    result = reconciler(TUNINGJOBS.plural, f"{harness.namespace}/nowhere")

    held = harness.get("nowhere")
    assert held is not None, "its job may still run: the finalizer stays"
    stalled = _condition(held, "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "InvalidSpec"), stalled
    assert stalled["message"].startswith("spec.projectID: not set"), stalled
    synced = _condition(held, "Synced")
    assert (synced["status"], synced["reason"]) == ("True", "ReconcileSuccess"), (
        "the spec is at fault, not a call"
    )
    assert result.requeue_after == 60.0
    assert emu.count("tuningJobs.cancel") == 0


def test_orphan_leaves_the_job_running_and_releases_the_resource(harness: Harness) -> None:
    obj = _created(harness, "orphan", deletionPolicy="Orphan")
    harness.api.delete(harness.path("orphan"))

    harness.reconcile("orphan")

    assert harness.get("orphan") is None
    assert harness.cancels() == 0
    assert ("Normal", "Orphaned", "left the tuning job in place (deletionPolicy)") in _events(harness, obj)
    assert harness.client.get_tuning_job(obj["status"]["name"]).state == "JOB_STATE_RUNNING"


def test_a_finished_job_is_not_cancelled_on_delete(harness: Harness) -> None:
    obj = _created(harness, "done")
    harness.emu.advance(2000)  # past its last step
    harness.reconcile("done")
    harness.api.delete(harness.path("done"))

    harness.reconcile("done")

    assert harness.get("done") is None
    assert harness.cancels() == 0
    assert harness.client.get_tuning_job(obj["status"]["name"]).state == "JOB_STATE_SUCCEEDED"


def test_delete_policy_removes_the_outputs_step_by_step_then_releases_the_resource(
    harness: Harness,
) -> None:
    obj = _created(harness, "outputs", deletionPolicy="Delete")
    harness.emu.advance(2000)
    harness.reconcile("outputs")
    finished = harness.get("outputs")
    assert finished is not None and finished["status"]["state"] == "JOB_STATE_SUCCEEDED"
    endpoint = finished["status"]["tunedModel"]["endpoint"]
    harness.api.delete(harness.path("outputs"))

    harness.reconcile("outputs")
    held = harness.get("outputs")
    assert held is not None, "held while the endpoint is undeployed and deleted"
    progress = _condition(held, "Reconciling")["message"]
    assert progress.startswith("deleting: undeploying and deleting endpoint"), progress
    for _ in range(10):
        if harness.get("outputs") is None:
            break
        harness.emu.advance(60)
        harness.reconcile("outputs")
    assert harness.get("outputs") is None
    assert harness.cancels() == 0, "a finished job is not cancelled"
    with pytest.raises(NotFoundError):
        harness.client.get_endpoint(endpoint)
    reasons = _events(harness, obj)
    deleted = [r for r in reasons if r[1] == "OutputsDeleted"]
    assert len(deleted) == 1 and deleted[0][0] == "Normal", reasons
    assert deleted[0][2].startswith("deleted endpoint(s) and model"), deleted


def test_releasing_a_resource_removes_only_its_own_finalizer_and_only_from_the_observed_version(
    harness: Harness,
) -> None:
    harness.apply("kept", annotations={CREATE_INTENT_ANNOTATION: _ago(GRACE + 5)})
    keep = ["example.com/keep", FINALIZER]
    harness.api.merge_patch(harness.path("kept"), {"metadata": {"finalizers": keep}})
    harness.api.delete(harness.path("kept"))
    harness.cache("kept")
    harness.api.merge_patch(harness.path("kept"), {"metadata": {"labels": {"team": "a"}}})  # cache stale

    with pytest.raises(ApiError) as raised:  # the manager retries from the newer version
        harness.reconciler(TUNINGJOBS.plural, f"{harness.namespace}/kept")
    assert raised.value.conflict
    stale = harness.get("kept")
    assert stale is not None and stale["metadata"]["finalizers"] == keep, "nothing removed on a stale version"

    harness.reconcile("kept")
    released = harness.get("kept")
    assert released is not None, "another finalizer still holds it"
    assert released["metadata"]["finalizers"] == ["example.com/keep"]


def test_releasing_a_resource_already_gone_is_not_an_error(harness: Harness) -> None:
    harness.apply("gone", annotations={CREATE_INTENT_ANNOTATION: _ago(GRACE + 5)})
    harness.api.merge_patch(harness.path("gone"), {"metadata": {"finalizers": [FINALIZER]}})
    harness.api.delete(harness.path("gone"))
    harness.cache("gone")  # the cache still holds it, with the finalizer
    harness.api.merge_patch(harness.path("gone"), {"metadata": {"finalizers": None}})  # released elsewhere
    assert harness.get("gone") is None

    result = harness.reconciler(TUNINGJOBS.plural, f"{harness.namespace}/gone")

    assert result.requeue_after is None


def test_a_resource_that_never_created_anything_is_released_without_google(harness: Harness) -> None:
    never = harness.apply("never")
    harness.api.merge_patch(harness.path("never"), {"metadata": {"finalizers": [FINALIZER]}})
    harness.api.delete(harness.path("never"))
    harness.emu.clear_requests()

    harness.reconcile("never")

    assert harness.get("never") is None
    assert harness.emu.count() == 0, "no intent and no name: nothing to look for"
    assert _events(harness, never) == [], "nothing was left in place, so nothing is said about it"


def test_a_deletion_while_a_create_may_still_land_keeps_the_finalizer_until_the_grace_is_over(
    harness: Harness,
) -> None:
    harness.apply("in-flight", annotations={CREATE_INTENT_ANNOTATION: _ago(1)})
    harness.api.merge_patch(harness.path("in-flight"), {"metadata": {"finalizers": [FINALIZER]}})
    harness.api.delete(harness.path("in-flight"))

    result = harness.reconcile("in-flight")
    assert harness.get("in-flight") is not None, "a create may still land: the finalizer stays"
    assert result.requeue_after is not None and 0 < result.requeue_after <= GRACE

    # A job that does land meanwhile is cancelled, not orphaned.
    obj = harness.get("in-flight")
    assert obj is not None
    landed = _job_of_resource(harness, obj)
    harness.emu.advance(15)
    harness.reconcile("in-flight")
    assert harness.cancels() == 1
    harness.emu.advance(CANCEL_SECONDS + 1)
    harness.reconcile("in-flight")
    assert harness.get("in-flight") is None
    assert harness.client.get_tuning_job(landed.name).state == "JOB_STATE_CANCELLED"


def test_a_deletion_with_an_intent_past_the_grace_and_no_job_releases_the_resource(harness: Harness) -> None:
    harness.apply("gave-up", annotations={CREATE_INTENT_ANNOTATION: _ago(GRACE + 5)})
    harness.api.merge_patch(harness.path("gave-up"), {"metadata": {"finalizers": [FINALIZER]}})
    harness.api.delete(harness.path("gave-up"))

    harness.reconcile("gave-up")

    assert harness.get("gave-up") is None
    assert harness.creates() == 0 and harness.cancels() == 0


def _events(harness: Harness, obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events about `obj` (this very object: its UID)."""
    assert harness.reconciler.events.flush(10), "the recorded events were written"
    items = harness.api.get(f"/api/v1/namespaces/{harness.namespace}/events")["items"]
    return [
        (e["type"], e["reason"], e["message"])
        for e in items
        if e["involvedObject"].get("uid") == obj["metadata"]["uid"]
    ]


def _scrape(harness: Harness) -> str:
    return generate_latest(harness.reconciler.metrics.registry).decode()


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in obj["status"]["conditions"] if c["type"] == type_)
    return found


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
