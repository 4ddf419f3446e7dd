"""Continuous tuning from another TuningJob: `spec.preTunedModel.tuningJobRef`.

A job that names another TuningJob of its namespace starts from that job's tuned model, so a chain of jobs
committed to Git at once runs in order. Before its create, the job looks its reference up in the operator's
cache of TuningJobs (no API call): not Ready yet means wait (Reconciling, WaitingForDependency); ended
without a model means Stalled (DependencyFailed); a chain that leads back to the job itself means Stalled
(DependencyCycle) with the loop named. When a TuningJob changes, the jobs referring to it are woken
(`referenced_jobs` feeds the manager's watch), so a waiting job starts as soon as its dependency is Ready.

The API server refuses a reference to the job itself at apply time (a CEL rule on the object); a longer loop
joins several objects, which neither CEL nor a ValidatingAdmissionPolicy can see (both judge one object at a
time), so it is refused here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.api.conditions import Reason
from controller.external import JsonObject

#: Reads one cached TuningJob: (namespace, name) -> the object, or None.
JobLookup = Callable[[str, str], JsonObject | None]

_ENDED_WITHOUT_MODEL = frozenset(
    {"JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"}
)


@dataclass(frozen=True)
class PreTunedSource:
    """The tuned model a job starts from, and the TuningJob that made it (None: named directly)."""

    tuned_model_name: str
    checkpoint_id: str | None
    tuning_job: str | None

    def to_api(self) -> JsonObject:
        body: JsonObject = {"tunedModelName": self.tuned_model_name}
        if self.checkpoint_id:
            body["checkpointId"] = self.checkpoint_id
        return body


class DependencyNotReady(Exception):
    """The job cannot be created yet (`stalled` False: it waits) or ever (`stalled` True) as it stands."""

    def __init__(self, reason: Reason, message: str, *, stalled: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.stalled = stalled


def referenced_job(obj: JsonObject) -> str | None:
    """The name in spec.preTunedModel.tuningJobRef, if any."""
    ref = ((obj.get("spec") or {}).get("preTunedModel") or {}).get("tuningJobRef") or {}
    name = ref.get("name")
    return str(name) if name else None


def referenced_jobs(obj: JsonObject) -> list[str]:
    """For `map_by_reference`: the TuningJob names `obj` depends on."""
    name = referenced_job(obj)
    return [name] if name else []


def resolve(obj: JsonObject, lookup: JobLookup) -> PreTunedSource | None:
    """The source model of a job with spec.preTunedModel (None without it); raises `DependencyNotReady`."""
    pre = (obj.get("spec") or {}).get("preTunedModel")
    if not pre:
        return None
    checkpoint = pre.get("checkpointId")
    if pre.get("tunedModelName"):
        return PreTunedSource(str(pre["tunedModelName"]), checkpoint, None)
    namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    ref = referenced_job(obj)
    assert ref is not None  # the CRD requires tunedModelName or tuningJobRef
    _refuse_cycle(namespace, name, ref, lookup)
    dependency = lookup(namespace, ref)
    if dependency is None:
        raise DependencyNotReady(
            Reason.WAITING_FOR_DEPENDENCY,
            f"waiting for TuningJob {ref} (spec.preTunedModel.tuningJobRef), which does not exist in "
            f"namespace {namespace}; this job is created from its tuned model once it is Ready",
            stalled=False,
        )
    status = dependency.get("status") or {}
    model = (status.get("tunedModel") or {}).get("model")
    if _is_ready(status) and model:
        return PreTunedSource(str(model), checkpoint, ref)
    state = status.get("state")
    if state in _ENDED_WITHOUT_MODEL:
        raise DependencyNotReady(
            Reason.DEPENDENCY_FAILED,
            f"TuningJob {ref} (spec.preTunedModel.tuningJobRef) ended in {state} without a tuned model, so "
            f"this job has nothing to start from; re-create {ref} and this job starts once it is Ready",
            stalled=True,
        )
    where = f" (it is {state})" if state else ""
    raise DependencyNotReady(
        Reason.WAITING_FOR_DEPENDENCY,
        f"waiting for TuningJob {ref} (spec.preTunedModel.tuningJobRef) to be Ready{where}; this job is "
        "created from its tuned model then",
        stalled=False,
    )


def _refuse_cycle(namespace: str, name: str, first: str, lookup: JobLookup) -> None:
    """Follow the chain of references from `name`; a chain that comes back to it is a cycle. One that loops
    further up without it is the loop's members' to report: this job merely waits behind them."""
    chain = [name, first]
    seen = {name}
    current = first
    while current not in seen:
        seen.add(current)
        job = lookup(namespace, current)
        following = referenced_job(job) if job is not None else None
        if following is None:
            return
        chain.append(following)
        current = following
    if current == name:
        raise DependencyNotReady(
            Reason.DEPENDENCY_CYCLE,
            "spec.preTunedModel.tuningJobRef: the references form a cycle, "
            + " -> ".join(chain)
            + ", so none of these jobs can ever start; point one of them at a base model or a tuned model",
            stalled=True,
        )


def _is_ready(status: JsonObject) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
