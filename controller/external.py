"""The contract between the generic reconciler and one kind's backend (after Crossplane's ExternalClient).

The reconciler owns everything Kubernetes-shaped: the finalizer, the create-exactly-once protocol, conditions,
events, the published ConfigMap and the status patch. A backend owns everything Google-shaped: how to find the
remote object, how to create, update and delete it, and how its state reads. Adding a kind means writing a
backend, not touching the reconciler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from controller.api.conditions import ConditionType, Reason

JsonObject = dict[str, Any]

# The create intent: the reconciler writes it with the finalizer in one preconditioned patch before it calls
# a backend's create; a backend reads it to know a create may have been sent (and so look harder).
CREATE_INTENT_ANNOTATION = "tuning.vertexops.dev/create-requested-at"
# Before the annotation, the intent was this status field; an object carrying only that is still understood.
LEGACY_INTENT_FIELD = "createRequestedTime"


def intent_time(obj: JsonObject) -> str | None:
    """When a create was last decided on for this object, if ever."""
    annotations = obj["metadata"].get("annotations") or {}
    return annotations.get(CREATE_INTENT_ANNOTATION) or (obj.get("status") or {}).get(LEGACY_INTENT_FIELD)


class Phase(StrEnum):
    """Where the remote job or model is in its life, in the terms the conditions are computed from."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLING = "Cancelling"
    CANCELLED = "Cancelled"
    UNKNOWN = "Unknown"

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)


@dataclass
class Observation:
    """What the backend saw of the remote object.

    `status` holds the backend's own status fields (camelCase, as in the CRD); a key mapped to None is
    removed from status. `outputs` are the names other workloads need (model, endpoint), written to the
    ConfigMap of spec.publish once the phase is SUCCEEDED. `poll_after` is when the backend wants to look
    again (None: not until something changes). `train_loss` and `validation_loss` feed the loss metrics.
    `found_by` says how a remote object that status did not name yet was found ("uid": created by this
    resource before a restart; "identity": created for the same manifest by another cluster or an earlier
    incarnation of the resource; "import": named by the spec); the reconciler reports it as an event.
    `conditions` are further conditions the backend alone can judge (type, status, reason, message).
    `events` are (type, reason, message) the backend wants recorded for what this observation found new
    (the backend decides, from the status it was given, that it is new, so a repeat poll records nothing).
    `searched_at`, on an observation that found nothing, is when the search that proved the absence started
    (UNIX seconds; None: a live read just now). The reconciler trusts the absence of a job whose create may
    have been sent only if that search started after the create grace had passed.
    """

    exists: bool
    phase: Phase = Phase.PENDING
    reason: Reason = Reason.JOB_PENDING
    message: str = ""
    status: JsonObject = field(default_factory=dict)
    up_to_date: bool = True
    ready: bool = False
    outputs: dict[str, str] = field(default_factory=dict)
    poll_after: float | None = None
    # The latest training and validation loss, exported as Prometheus gauges per resource when known.
    train_loss: float | None = None
    validation_loss: float | None = None
    found_by: str | None = None
    searched_at: float | None = None
    conditions: list[tuple[ConditionType, str, Reason, str]] = field(default_factory=list)
    events: list[tuple[str, Reason, str]] = field(default_factory=list)
    # Set by a backend's delete while it waits on something other than the remote object stopping (the
    # removal of a job's outputs): the Reconciling message while the resource is being deleted.
    deleting_message: str = ""


@dataclass
class CreateCheck:
    """What a backend checked before a create (the dataset preflight of a tuning job).

    `status` holds fields for status (written whether or not the create goes ahead); `blocked` is the
    (reason, message) of a check that forbids the create, which the reconciler turns into Stalled=True, and
    looks again after `retry_after` seconds; `waiting` is the (reason, message) of one that defers it (a
    dependency not ready yet), which the reconciler turns into Reconciling=True and looks again after
    `retry_after` (or when woken); `events` are (type, reason, message) to record.
    """

    status: JsonObject = field(default_factory=dict)
    blocked: tuple[Reason, str] | None = None
    waiting: tuple[Reason, str] | None = None
    retry_after: float = 60.0
    events: list[tuple[str, Reason, str]] = field(default_factory=list)


class SpecError(Exception):
    """The resource cannot progress until the user changes something (a missing Secret, an invalid value).

    Raised by backends; the reconciler turns it into Stalled=True with this reason and message, and retries
    after `retry_after` seconds (a watch on the referenced object usually wakes it sooner).
    """

    def __init__(self, reason: Reason, message: str, retry_after: float = 60.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class ExternalClient(Protocol):
    """One kind's view of its Google API. `obj` is the resource as the API server returns it."""

    #: The kind's name in events and messages ("tuning job", "tuned model").
    noun: str

    def observe(self, obj: JsonObject) -> Observation:
        """Find the remote object: by the name in status, else by its labels or deterministic ID.

        Must not change anything remotely. Returns `exists=False` when there is nothing to adopt.
        """
        ...

    def check_before_create(self, obj: JsonObject) -> CreateCheck:
        """What must hold before the remote object is created; read-only, called on every create attempt."""
        ...

    def create(self, obj: JsonObject) -> Observation:
        """Create the remote object exactly once (the reconciler has recorded the intent before calling)."""
        ...

    def update(self, obj: JsonObject, observation: Observation) -> Observation:
        """Bring a remote object whose `up_to_date` was False in line with the spec."""
        ...

    def delete(self, obj: JsonObject, observation: Observation) -> bool:
        """Apply the deletion policy's remote action; True once nothing more needs to happen remotely."""
        ...

    def orphan_on_delete(self, obj: JsonObject) -> bool:
        """Whether the resource's deletionPolicy leaves the remote object alone."""
        ...

    def run_test_prompts(self, obj: JsonObject, observation: Observation) -> list[JsonObject]:
        """Send spec.testPrompts to the ready model; one result (answer or error) per prompt."""
        ...

    def forget(self, obj: JsonObject) -> None:
        """Drop any in-memory state kept for the resource (it was deleted)."""
        ...
