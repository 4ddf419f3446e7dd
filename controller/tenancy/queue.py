"""The tenant's line of TuningJobs waiting for a place under `limits.maxActiveJobs`, derived from the cluster.

Only creates wait: a job whose remote job already exists (found by its UID or identity label) is adopted at
once and counts towards the limit like any other. A job that finds nothing asks for its turn here, after the
look-up and before the create-intent write.

Nothing here is kept across restarts: which jobs are active and which wait is read from the TuningJobs
themselves, so an operator killed at any moment finds the same line when it starts again. A job is active
from the moment the operator records its create intent (written before the create call) until status
shows a final state, and it counts while a Cancel deletion waits for the remote job to stop.

The line is strict, in creation order (creationTimestamp, then namespace, name and UID, since timestamps
have one-second resolution): a job may create only when

- a place is free: fewer than the limit active, counting every job of the tenant not looked up yet as
  possibly active (after a cluster rebuild its remote job may be running; once looked up it is adopted or
  waits, and says so in status);
- no older job of the tenant is waiting (it takes the place first);
- no create of the tenant is in flight (an intent recorded and no remote name yet), so the create calls
  reach Google one after the other, in line order, however many workers reconcile at once.

The one thing the cluster cannot show is a start this process granted a moment ago whose intent the
informer cache has not delivered yet; `Reservations` holds those for a short while, so two workers can
never both take a place, and a granted job counts as active and in flight meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from controller.api.conditions import ConditionType, Reason, condition_reason
from controller.api.tuningjob import TERMINAL_JOB_STATES
from controller.external import intent_time

JsonObject = dict[str, Any]

# Longer than the reconcile between a granted start and the intent write reaching the cache.
RESERVATION_SECONDS = 60.0


def is_created(job: JsonObject) -> bool:
    """Created on Google, or on its way: a remote name, or a recorded create intent."""
    return bool((job.get("status") or {}).get("name") or intent_time(job))


def is_active(job: JsonObject) -> bool:
    """Whether the job holds one of the tenant's places: created (or being created) and not finished."""
    status = job.get("status") or {}
    if not is_created(job) or status.get("state") in TERMINAL_JOB_STATES:
        return False
    # A create that was refused (Stalled without a remote name) runs nothing remotely.
    return bool(status.get("name")) or not _refused(status)


def is_in_flight(job: JsonObject) -> bool:
    """A create decided on (intent recorded) whose remote name status does not show yet."""
    status = job.get("status") or {}
    return bool(intent_time(job)) and not status.get("name") and not _refused(status)


def in_line(job: JsonObject) -> bool:
    """Not created yet and still meant to be: not being deleted, not stalled on a fix the user must make."""
    return (
        not is_created(job)
        and not job["metadata"].get("deletionTimestamp")
        and not _refused(job.get("status") or {})
    )


def is_unknown(job: JsonObject) -> bool:
    """In line but not looked up yet in this cluster: its remote job may exist (a rebuilt cluster), running.

    A job that looked and found nothing says so in status (Reconciling, WaitingForTenantQuota)."""
    reason = condition_reason(job.get("status") or {}, ConditionType.RECONCILING)
    return in_line(job) and reason != Reason.WAITING_FOR_TENANT_QUOTA


def _refused(status: JsonObject) -> bool:
    return condition_reason(status, ConditionType.STALLED) is not None


def line_key(job: JsonObject) -> tuple[str, str, str, str]:
    meta = job["metadata"]
    return (
        str(meta.get("creationTimestamp") or ""),
        str(meta.get("namespace")),
        str(meta.get("name")),
        str(meta.get("uid")),
    )


@dataclass(frozen=True)
class Place:
    """Where a job stands: may it create now, and if not, why and its place among the waiting jobs."""

    may_start: bool
    position: int  # 1-based among the jobs not yet created; 0 when it may start
    queued: int  # jobs of the tenant not yet created, this one included
    active: int  # places taken
    limit: int
    unknown: int = 0  # jobs not looked up yet, counted as possibly active
    in_flight: str = ""  # namespace/name of a create under way that this one waits for


class Reservations:
    """Starts granted by this process that the cache may not show yet, per job UID."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._granted: dict[str, float] = {}
        self.lock = threading.Lock()  # held by the caller across count-and-grant

    def add(self, uid: str) -> None:
        self._granted[uid] = self._clock()

    def pending(self, jobs_by_uid: dict[str, JsonObject]) -> set[str]:
        """UIDs granted recently whose job the cache shows neither created nor gone."""
        now = self._clock()
        for uid, granted_at in list(self._granted.items()):
            job = jobs_by_uid.get(uid)
            if now - granted_at > RESERVATION_SECONDS or (job is not None and is_created(job)):
                del self._granted[uid]
        return {uid for uid in self._granted if uid in jobs_by_uid}


def place_in_line(
    job: JsonObject, tenant_jobs: Iterable[JsonObject], limit: int, reserved: set[str]
) -> Place:
    """Where `job` (looked up, nothing found, not created) stands among the tenant's jobs under `limit`."""
    uid = job["metadata"]["uid"]
    others = [j for j in tenant_jobs if j["metadata"]["uid"] != uid]
    active = sum(1 for j in others if is_active(j) or j["metadata"]["uid"] in reserved)
    queued = sorted(
        [job, *(j for j in others if j["metadata"]["uid"] not in reserved and in_line(j))], key=line_key
    )
    position = queued.index(job) + 1
    if uid in reserved:  # granted already; the intent write has not reached the cache yet
        return Place(True, 0, len(queued) - 1, active, limit)
    unknown = sum(1 for j in others if j["metadata"]["uid"] not in reserved and is_unknown(j))
    flying = sorted((j for j in others if j["metadata"]["uid"] in reserved or is_in_flight(j)), key=line_key)
    in_flight = f"{flying[0]['metadata']['namespace']}/{flying[0]['metadata']['name']}" if flying else ""
    if position == 1 and active + unknown < limit and not flying:
        return Place(True, 0, len(queued) - 1, active, limit)
    return Place(False, position, len(queued), active, limit, unknown=unknown, in_flight=in_flight)
