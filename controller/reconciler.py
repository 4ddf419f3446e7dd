"""The generic managed-resource reconciler: finalizer, observe, create/update, status, delete by policy.

`reconcile(kind, key)` is a function of the current state only (the cached object and what the backend
observes remotely); it never depends on which event woke it, and every step is safe to repeat.

Find before create. The backend looks for an existing remote object first: by the name in status, then by
the resource's UID label (a job this resource created before a crash), then by its identity label (the same
manifest's job, created by a cluster that was since rebuilt, or before the resource was re-created), or by the
name an imported resource gives. Whatever it finds is adopted and guarded by the finalizer like a job of our
own; the backend answers these look-ups from listings it makes anyway, so they cost no Google call per job.

Ask before calling. `admit` (the tenancy: project, location, data and identity rules) is asked before any
Google call; `may_create` only once the look-up found nothing to adopt, just before the intent write. A job
that is already running remotely is adopted at once; only a create may have to wait its turn (a tenant's
limit on active jobs), and it says so in status with its place in line.

Create exactly once. A Vertex tuning job has a server-chosen ID, so a crash between the create call and the
status write could otherwise cost a second paid job. The protocol:
  1. Record the intent and the finalizer in one write: the annotation
     `tuning.vertexops.dev/create-requested-at` and the finalizer, with the resourceVersion of the object
     just observed as a precondition. If anything wrote the object since (our own status write the cache
     has not caught up with included), the write fails and nothing is created; the next reconcile starts
     again from the newer object.
  2. Call create. The backend labels the remote object with the resource's UID and identity (or uses a
     deterministic ID).
  3. Write the result to status.
After a restart, a resource with the intent but no remote name is looked up by those labels first; only if
nothing is found, and the intent is older than `create_grace_seconds` (so a create whose answer was lost has
had time to appear in a list), is create called again. The finalizer is in place before any create is sent,
so a deletion can never leave a job behind without its resource.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.api.base import format_timestamp
from controller.api.common import prompt_digest
from controller.api.conditions import Condition, ConditionType, Reason, condition_reason, set_condition
from controller.external import (
    CREATE_INTENT_ANNOTATION,
    LEGACY_INTENT_FIELD,
    CreateCheck,
    ExternalClient,
    JsonObject,
    Observation,
    Phase,
    SpecError,
    intent_time,
)
from controller.google.errors import (
    FailedPreconditionError,
    GoogleAPIError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from controller.runtime.events import EventRecorder
from controller.runtime.kubeapi import ApiError, KubeApi, ResourceRef
from controller.runtime.manager import Result
from controller.runtime.metrics import Metrics
from controller.runtime.store import Store, decode, encode
from controller.tenancy import AdmitFn

log = logging.getLogger(__name__)

FINALIZER = "tuning.vertexops.dev/finalizer"

_FOUND_EVENTS: dict[str, tuple[Reason, str]] = {
    "uid": (Reason.ADOPTED, "found {noun} {name}, created by this resource before a restart"),
    "identity": (
        Reason.ADOPTED,
        "adopted {noun} {name}: it carries this resource's identity (same namespace, name and inputs), "
        "so it was created for this manifest before (by a cluster since rebuilt, or before the resource "
        "was re-created); no new job is created",
    ),
    "import": (Reason.IMPORTED, "following {noun} {name}, named by the spec (imported)"),
}

# Google errors that no retry can fix: the user (or an admin) has to change something.
_STALLING_ERRORS: tuple[tuple[type[GoogleAPIError], Reason], ...] = (
    (PermissionDeniedError, Reason.PERMISSION_DENIED),
    (UnauthenticatedError, Reason.PERMISSION_DENIED),
    (InvalidArgumentError, Reason.INVALID_SPEC),
    (FailedPreconditionError, Reason.INVALID_SPEC),
    (NotFoundError, Reason.NOT_FOUND),
)

# Events for a phase reached, by reason; Warning for the ones a user must look at.
_PHASE_EVENTS: dict[Phase, str] = {
    Phase.PENDING: "Normal",
    Phase.RUNNING: "Normal",
    Phase.SUCCEEDED: "Normal",
    Phase.CANCELLING: "Normal",
    Phase.CANCELLED: "Warning",
    Phase.FAILED: "Warning",
    Phase.UNKNOWN: "Warning",
}


@dataclass(frozen=True)
class ReconcilerSettings:
    # Longer than a create call may take (the Google timeout), so an empty search really means "not created".
    create_grace_seconds: float = 90.0
    stalled_retry_seconds: float = 300.0
    delete_poll_seconds: float = 5.0


class Reconciler:
    def __init__(
        self,
        kind: str,
        resource: ResourceRef,
        backend: ExternalClient,
        *,
        api: KubeApi,
        store: Store,
        events: EventRecorder,
        metrics: Metrics,
        settings: ReconcilerSettings | None = None,
        admit: AdmitFn | None = None,
        may_create: AdmitFn | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kind = kind
        self.resource = resource
        self.backend = backend
        self.api = api
        self.store = store
        self.events = events
        self.metrics = metrics
        self.settings = settings or ReconcilerSettings()
        self.admit = admit
        self.may_create = may_create
        self.now = now
        # key -> (resourceVersions our last status write superseded: the one it was based on and any this
        # reconcile wrote before it, the object the server returned). The cache only moves forward, so while
        # it still holds one of those versions it has not seen our write.
        # Kept as compact JSON, oldest first, and dropped once the cache has caught up (see _forget_seen):
        # with thousands of jobs polled minutes apart, holding every last write would double the cache.
        self._written: OrderedDict[str, tuple[frozenset[str], bytes]] = OrderedDict()
        self._written_lock = threading.Lock()

    # -- entry point ---------------------------------------------------------------------------------------

    def __call__(self, kind: str, key: str) -> Result:
        obj = self._latest(key)
        if obj is None:
            return Result()
        if obj["metadata"].get("deletionTimestamp"):
            return self._finalize(obj)
        return self._sync(obj)

    # -- normal path ---------------------------------------------------------------------------------------

    def _sync(self, obj: JsonObject) -> Result:
        status: JsonObject = dict(obj.get("status") or {})
        just_created = False
        refused = self._refused_by_tenancy(obj, status)
        if refused is not None:
            return refused
        superseded: list[str] = []  # versions written in this reconcile before its status write
        try:
            observation = self.backend.observe(obj)
            checked_status: JsonObject = {}
            if not observation.exists:
                # Before anything is paid for: the backend's own checks (a tuning job's dataset preflight).
                checked = self.backend.check_before_create(obj)
                for event_type, why, text in checked.events:
                    self.events.record(obj, event_type, why, text)  # type: ignore[arg-type]
                if checked.blocked is not None:
                    return self._blocked_before_create(obj, status, checked)
                if checked.waiting is not None:
                    why, text = checked.waiting
                    self._write_status(
                        obj, status, self._waiting(obj, {**status, **checked.status}, why, text)
                    )
                    return Result(requeue_after=checked.retry_after)
                checked_status = checked.status
                waiting = self._waiting_for_turn(obj, status, observation, checked_status)
                if waiting is not None:
                    return waiting
                created = self._create(obj, observation)
                if isinstance(created, Result):
                    return created
                (observation, intent_written), just_created = created, True
                superseded.append(intent_written["metadata"]["resourceVersion"])
            else:
                if not _has_finalizer(obj):
                    # Found, not created (adopted, imported, or made by an older version): guard it too.
                    superseded.append(self._add_finalizer(obj)["metadata"]["resourceVersion"])
                self._report_found(obj, status, observation)
                if not observation.up_to_date:
                    observation = self.backend.update(obj, observation)
                    self.events.normal(obj, "Updated", f"updated the {self.backend.noun} to match the spec")
            extra = {**checked_status, **self._after_ready(obj, status, observation)}
        except SpecError as err:
            self._write_status(obj, status, self._stalled(obj, status, err.reason, err.message, synced=True))
            return Result(requeue_after=err.retry_after)
        except GoogleAPIError as err:
            return self._google_error(obj, status, err)
        new_status = self._status_from(obj, status, observation, extra)
        if not just_created:  # the Created event already says where the new job stands
            self._report_transition(obj, status, observation)
        for event_type, why, text in observation.events:
            self.events.record(obj, event_type, why, text)  # type: ignore[arg-type]
        self._write_status(obj, status, new_status, superseded)
        self._export_metrics(obj, new_status, observation)
        return Result(requeue_after=observation.poll_after)

    def _create(self, obj: JsonObject, absent: Observation) -> tuple[Observation, JsonObject] | Result:
        """Run the create-exactly-once protocol: the observation and the object as the intent write left it,
        or a Result when it is too early (or unsafe) to create now."""
        wait = self._create_may_still_land(obj, absent)
        if wait > 0:
            log.info(
                "a create intent is recorded and nothing found yet: waiting %.0fs before creating again", wait
            )
            return Result(requeue_after=min(wait, self.settings.create_grace_seconds / 3))
        meta = obj["metadata"]
        requested = format_timestamp(self.now())
        intent: JsonObject = {
            "resourceVersion": meta["resourceVersion"],
            "annotations": {CREATE_INTENT_ANNOTATION: requested},
        }
        if not _has_finalizer(obj):
            intent["finalizers"] = [*(meta.get("finalizers") or []), FINALIZER]
        try:
            # The precondition makes the write fail if anything changed since the object was observed.
            written = self.api.merge_patch(self._object_path(obj), {"metadata": intent})
        except ApiError as err:
            if not err.conflict:
                raise
            log.info("the object changed since it was read (%s); looking again before creating", err)
            return Result(requeue_after=1.0)
        observation = self.backend.create(written)
        observation.status.setdefault(LEGACY_INTENT_FIELD, requested)
        self.events.normal(
            obj, "Created", f"created {self.backend.noun} {observation.status.get('name', '')}".strip()
        )
        return observation, written

    def _blocked_before_create(self, obj: JsonObject, status: JsonObject, checked: CreateCheck) -> Result:
        """A check before create said no: Stalled with its reason, its findings in status, nothing created.
        The check runs again after `retry_after` (a fixed dataset is seen without touching the resource)."""
        assert checked.blocked is not None
        reason, message = checked.blocked
        merged = {**status, **checked.status}
        self._write_status(obj, status, self._stalled(obj, merged, reason, message, synced=True))
        return Result(requeue_after=checked.retry_after)

    def _report_found(self, obj: JsonObject, status: JsonObject, observation: Observation) -> None:
        """An event when a remote object that status did not name yet was found instead of created."""
        if status.get("name") or observation.found_by not in _FOUND_EVENTS:
            return
        reason, text = _FOUND_EVENTS[observation.found_by]
        name = observation.status.get("name", "")
        self.events.normal(obj, reason, text.format(noun=self.backend.noun, name=name))
        for _type, value, why, message in observation.conditions:
            if value == "False":
                self.events.warning(obj, why, message)

    def _after_ready(self, obj: JsonObject, status: JsonObject, observation: Observation) -> JsonObject:
        """Once the model is usable: publish its names and run the test prompts (again when they change)."""
        if not observation.ready:
            return {}
        extra: JsonObject = {}
        self._publish(obj, observation)
        prompts = [prompt_digest(p) for p in (obj["spec"].get("testPrompts") or [])]
        done = [r.get("promptDigest") for r in (status.get("testPromptResults") or [])]
        if prompts != done:
            results = self.backend.run_test_prompts(obj, observation) if prompts else []
            extra["testPromptResults"] = results or None
            failed = [r for r in results if r.get("error")]
            if failed:
                self.events.warning(
                    obj,
                    Reason.TEST_PROMPTS_FAILED,
                    f"{len(failed)} of {len(results)} test prompts failed: {failed[0]['error']}",
                )
            elif results:
                self.events.normal(obj, "TestPromptsAnswered", f"{len(results)} test prompts answered")
        return extra

    def _publish(self, obj: JsonObject, observation: Observation) -> None:
        publish = obj["spec"].get("publish") or {}
        name = publish.get("configMapName")
        if not name or not observation.outputs:
            return
        meta = obj["metadata"]
        namespace = meta["namespace"]
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "vertexops"},
                "ownerReferences": [
                    {
                        "apiVersion": obj["apiVersion"],
                        "kind": obj["kind"],
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "data": dict(observation.outputs),
        }
        path = f"/api/v1/namespaces/{namespace}/configmaps"
        try:
            current = self.api.get(f"{path}/{name}")
        except ApiError as err:
            if not err.not_found:
                raise
            self.api.create(path, body)
            self.events.normal(obj, "Published", f"wrote the model and endpoint to ConfigMap {name}")
            return
        owners = current["metadata"].get("ownerReferences") or []
        if not any(o.get("uid") == meta["uid"] for o in owners):
            raise SpecError(
                Reason.PUBLISH_FAILED,
                f"spec.publish.configMapName: ConfigMap {name} exists and is not owned by this {self.kind}; "
                "choose another name or delete that ConfigMap",
            )
        if current.get("data") != observation.outputs:
            self.api.merge_patch(f"{path}/{name}", {"data": dict(observation.outputs)})

    def _refused_by_tenancy(self, obj: JsonObject, status: JsonObject) -> Result | None:
        """Ask the tenancy before any Google call; the Result when the answer is no."""
        if self.admit is None:
            return None
        decision = self.admit(obj)
        if decision.allowed or decision.reason is None:
            return None
        if condition_reason(status, ConditionType.STALLED) != decision.reason:
            self.events.warning(obj, decision.reason, decision.message)
        self._write_status(obj, status, self._stalled(obj, status, decision.reason, decision.message, True))
        return Result(requeue_after=self.settings.stalled_retry_seconds)

    def _waiting_for_turn(
        self, obj: JsonObject, status: JsonObject, absent: Observation, checked: JsonObject
    ) -> Result | None:
        """Nothing to adopt was found: ask the tenancy whether a create may go now (only creates queue).

        `checked` is what the checks before create found (the dataset preflight): a job waiting in line
        shows it already, so a bad dataset is known before the job's turn comes.
        """
        if self.may_create is None:
            return None
        decision = self.may_create(obj)
        if decision.allowed or decision.reason is None:
            return None
        new_status = {**self._merged(status, absent.status), **checked}
        self._write_status(obj, status, self._waiting(obj, new_status, decision.reason, decision.message))
        return Result(requeue_after=decision.retry_after)

    # -- deletion ------------------------------------------------------------------------------------------

    def _finalize(self, obj: JsonObject) -> Result:
        if FINALIZER not in (obj["metadata"].get("finalizers") or []):
            return Result()
        status: JsonObject = dict(obj.get("status") or {})
        # No remote name and no recorded create intent: nothing can exist remotely that this resource made.
        # (An adopted or imported job is named in status once it has been followed.)
        never_created = not status.get("name") and not intent_time(obj)
        if not never_created and not self.backend.orphan_on_delete(obj):
            try:
                observation = self.backend.observe(obj)
                wait = self._create_may_still_land(obj, observation) if not observation.exists else 0.0
                if wait > 0:
                    # A create sent before a crash may not have landed yet: deleting the finalizer now would
                    # leave that job running with no resource. Look again once it would have appeared.
                    log.info("deleting: a create may still be in flight; looking again in %.0fs", wait)
                    return Result(requeue_after=wait)
                removed = not observation.exists or self.backend.delete(obj, observation)
                for event_type, why, text in observation.events:
                    self.events.record(obj, event_type, why, text)  # type: ignore[arg-type]
                if not removed:
                    new_status = self._status_from(obj, status, observation, {})
                    new_status["conditions"] = self._conditions(
                        obj,
                        new_status,
                        ready=("False", Reason.DELETING, f"deleting: waiting for the {self.backend.noun}"),
                        reconciling=("True", Reason.DELETING, self._deleting_message(observation)),
                        stalled=("False", Reason.DELETING, ""),
                        synced=("True", Reason.RECONCILE_SUCCESS, ""),
                    )
                    self._report_transition(obj, status, observation)
                    self._write_status(obj, status, new_status)
                    self._export_metrics(obj, new_status, observation)  # CANCELLING counted as such
                    return Result(requeue_after=self.settings.delete_poll_seconds)
            except SpecError as err:
                # Without credentials or a name the remote object cannot be touched; keep the finalizer
                # so nothing is orphaned silently, and say so.
                self._write_status(obj, status, self._stalled(obj, status, err.reason, err.message, True))
                return Result(requeue_after=err.retry_after)
            except NotFoundError:
                pass  # already gone remotely
            except GoogleAPIError as err:
                return self._google_error(obj, status, err)
        elif not never_created:
            self.events.normal(obj, "Orphaned", f"left the {self.backend.noun} in place (deletionPolicy)")
        self._remove_finalizer(obj)
        self.backend.forget(obj)
        self.metrics.forget_resource(self.kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
        return Result()

    def _create_may_still_land(self, obj: JsonObject, absent: Observation) -> float:
        """Seconds until a recorded create intent without a remote name can be trusted to have failed.

        The absence counts only if the search that found nothing started after the grace had passed: a
        listing taken earlier (and reused) may predate a create call that was still on its way.
        """
        requested = intent_time(obj)
        if (obj.get("status") or {}).get("name") or not requested:
            return 0.0
        searched = (
            datetime.fromtimestamp(absent.searched_at, UTC) if absent.searched_at is not None else self.now()
        )
        elapsed = (searched - _parse_time(requested)).total_seconds()
        return max(0.0, self.settings.create_grace_seconds - elapsed)

    def _deleting_message(self, observation: Observation) -> str:
        if observation.deleting_message:
            return observation.deleting_message
        state = observation.status.get("state") or observation.phase.value
        return f"deleting: waiting for the {self.backend.noun} to stop (now {state})"

    def _add_finalizer(self, obj: JsonObject) -> JsonObject:
        finalizers = [*(obj["metadata"].get("finalizers") or []), FINALIZER]
        return self.api.merge_patch(
            self._object_path(obj),
            {"metadata": {"finalizers": finalizers, "resourceVersion": obj["metadata"]["resourceVersion"]}},
        )

    def _remove_finalizer(self, obj: JsonObject) -> None:
        finalizers = [f for f in obj["metadata"].get("finalizers") or [] if f != FINALIZER]
        try:
            self.api.merge_patch(
                self._object_path(obj),
                {
                    "metadata": {
                        "finalizers": finalizers or None,
                        "resourceVersion": obj["metadata"]["resourceVersion"],
                    }
                },
            )
        except ApiError as err:
            if not err.not_found:
                raise

    # -- errors --------------------------------------------------------------------------------------------

    def _google_error(self, obj: JsonObject, status: JsonObject, err: GoogleAPIError) -> Result:
        for error_type, reason in _STALLING_ERRORS:
            if isinstance(err, error_type):
                self.events.warning(obj, reason, err.message)
                new_status = self._stalled(obj, status, reason, err.message, synced=False)
                self._write_status(obj, status, new_status)
                return Result(requeue_after=self.settings.stalled_retry_seconds)
        # Transient: rate limits, 5xx, an unreachable API. The job itself is not failed; say so in Synced
        # only, and let the manager retry with its growing per-key backoff (or the server's hint).
        self.events.warning(obj, Reason.API_ERROR, err.message)
        new_status = dict(status)
        new_status["conditions"] = self._conditions(
            obj, status, synced=("False", Reason.API_ERROR, _transient_message(err))
        )
        self._write_status(obj, status, new_status)
        log.warning("transient Google API error; retrying with backoff: %s", err.message)
        if err.retry_after:
            return Result(requeue_after=err.retry_after)
        return Result(requeue_after=0)  # the manager's per-key exponential backoff

    def _stalled(
        self, obj: JsonObject, status: JsonObject, reason: Reason, message: str, synced: bool
    ) -> JsonObject:
        new_status = dict(status)
        new_status["observedGeneration"] = obj["metadata"].get("generation")
        new_status["conditions"] = self._conditions(
            obj,
            status,
            ready=("False", reason, message),
            reconciling=("False", reason, ""),
            stalled=("True", reason, message),
            synced=("True", Reason.RECONCILE_SUCCESS, "") if synced else ("False", reason, message),
        )
        return new_status

    def _waiting(self, obj: JsonObject, status: JsonObject, reason: Reason, message: str) -> JsonObject:
        """Looked up and found nothing, and the create waits its turn: progressing, nothing wrong."""
        new_status = dict(status)
        new_status["observedGeneration"] = obj["metadata"].get("generation")
        new_status["conditions"] = self._conditions(
            obj,
            status,
            ready=("False", reason, message),
            reconciling=("True", reason, message),
            stalled=("False", reason, ""),
            synced=("True", Reason.RECONCILE_SUCCESS, ""),
        )
        return new_status

    # -- status --------------------------------------------------------------------------------------------

    def _status_from(
        self, obj: JsonObject, status: JsonObject, observation: Observation, extra: JsonObject
    ) -> JsonObject:
        new_status = self._merged(status, {**observation.status, **extra})
        new_status["observedGeneration"] = obj["metadata"].get("generation")
        phase, reason, message = observation.phase, observation.reason, observation.message
        failed = phase in (Phase.FAILED, Phase.CANCELLED)
        ready = ("True" if observation.ready else "False", reason, message)
        reconciling = ("False", reason, "") if phase.terminal else ("True", reason, message)
        stalled = ("True", reason, message) if failed else ("False", reason, "")
        new_status["conditions"] = self._conditions(
            obj,
            new_status,
            ready=ready,
            reconciling=reconciling,
            stalled=stalled,
            synced=("True", Reason.RECONCILE_SUCCESS, ""),
            others=observation.conditions,
        )
        return new_status

    @staticmethod
    def _merged(status: JsonObject, fields: JsonObject) -> JsonObject:
        """Status with the backend's fields set (a field mapped to None is removed)."""
        new_status = dict(status)
        for key, value in fields.items():
            if value is None:
                new_status.pop(key, None)
            else:
                new_status[key] = value
        return new_status

    def _conditions(
        self,
        obj: JsonObject,
        status: JsonObject,
        *,
        ready: tuple[str, Reason, str] | None = None,
        reconciling: tuple[str, Reason, str] | None = None,
        stalled: tuple[str, Reason, str] | None = None,
        synced: tuple[str, Reason, str] | None = None,
        others: list[tuple[ConditionType, str, Reason, str]] | None = None,
    ) -> list[dict[str, Any]]:
        conditions = [Condition.model_validate(c) for c in status.get("conditions") or []]
        generation = obj["metadata"].get("generation")
        now = self.now().replace(microsecond=0)
        values: list[tuple[ConditionType, tuple[str, Reason, str] | None]] = [
            (ConditionType.READY, ready),
            (ConditionType.RECONCILING, reconciling),
            (ConditionType.STALLED, stalled),
            (ConditionType.SYNCED, synced),
        ]
        values += [(type_, (value, reason, message)) for type_, value, reason, message in others or ()]
        for type_, value in values:
            if value is not None:
                condition_status, reason, message = value
                conditions = set_condition(
                    conditions,
                    type_,
                    condition_status,  # type: ignore[arg-type]
                    reason,
                    message,
                    generation,
                    now,
                )
        return [c.to_k8s() for c in conditions]

    def _write_status(
        self, obj: JsonObject, old: JsonObject, new: JsonObject, superseded: list[str] | None = None
    ) -> None:
        patch = _diff(old, new)
        if not patch:
            return
        try:
            written = self.api.merge_patch(self._status_path(obj), {"status": patch})
        except ApiError as err:
            if err.not_found:
                return  # deleted meanwhile
            raise
        versions = frozenset([obj["metadata"]["resourceVersion"], *(superseded or ())])
        record = (versions, encode(written))
        with self._written_lock:
            self._written.pop(_key(obj), None)
            self._written[_key(obj)] = record
            self._forget_seen()

    def _forget_seen(self) -> None:
        """Drop the oldest records the cache has caught up with (or whose object is gone), up to the first
        it has not: writes reach the cache in about the order they were made, so this keeps only the few
        records of the last moments."""
        while self._written:
            key, (based_on, _) = next(iter(self._written.items()))
            if self.store.resource_version(key) in based_on:
                return
            del self._written[key]

    def _latest(self, key: str) -> JsonObject | None:
        """The cached object, or what our last status write returned if the cache has not caught up yet.

        A key re-queued while it was being reconciled runs again at once, possibly before the watch has
        delivered our own last write; acting on the older status would repeat work (test prompts, events).
        """
        obj = self.store.get(key)
        with self._written_lock:
            record = self._written.get(key)
            if obj is None or record is None:
                return obj
            based_on, written = record
            if obj["metadata"].get("resourceVersion") in based_on:
                return decode(written)
            del self._written[key]
        return obj

    def _report_transition(self, obj: JsonObject, status: JsonObject, observation: Observation) -> None:
        old_state = status.get("state")
        new_state = observation.status.get("state")
        if not new_state or new_state == old_state:
            return
        event_type = _PHASE_EVENTS.get(observation.phase, "Normal")
        text = observation.message or f"{self.backend.noun} is {new_state}"
        self.events.record(obj, event_type, observation.reason, text)  # type: ignore[arg-type]

    def _export_metrics(self, obj: JsonObject, status: JsonObject, observation: Observation) -> None:
        namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        if status.get("state"):
            self.metrics.set_job_state(self.kind, namespace, name, status["state"])
        if observation.train_loss is not None or observation.validation_loss is not None:
            self.metrics.set_losses(
                self.kind, namespace, name, observation.train_loss, observation.validation_loss
            )

    # -- paths ---------------------------------------------------------------------------------------------

    def _object_path(self, obj: JsonObject) -> str:
        return self.resource.object_path(obj["metadata"]["name"], obj["metadata"]["namespace"])

    def _status_path(self, obj: JsonObject) -> str:
        return self._object_path(obj) + "/status"


def _has_finalizer(obj: JsonObject) -> bool:
    return FINALIZER in (obj["metadata"].get("finalizers") or [])


def _key(obj: JsonObject) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


def _diff(old: JsonObject, new: JsonObject) -> JsonObject:
    """A JSON merge patch turning `old` into `new` at the top level of status (removed keys become null)."""
    patch: JsonObject = {key: value for key, value in new.items() if old.get(key) != value}
    patch.update({key: None for key in old if key not in new})
    return patch


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _transient_message(err: GoogleAPIError) -> str:
    return f"{err.message} (transient; the operator keeps retrying and the job itself is unaffected)"
