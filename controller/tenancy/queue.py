"""The tenant's line of TuningJobs waiting for a place under `limits.maxActiveJobs`, derived from the cluster.

Nothing here is kept across restarts: which jobs are active and which wait is read from the TuningJobs
themselves, so an operator killed at any moment finds the same line when it starts again. A job is active
from the moment the operator records its create intent (written before the create call) until status
shows a final state, and it counts while a Cancel deletion waits for the remote job to stop. A job waits
while it has no intent yet; the line is in creation order (creationTimestamp, then namespace and name,
since timestamps have one-second resolution).

The one thing the cluster cannot show is a start this process granted a moment ago whose intent the
informer cache has not delivered yet; `Reservations` counts those for a short while, so two workers can
never both take the last place.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

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
    return bool(status.get("name")) or not _stalled(status)


def _stalled(status: JsonObject) -> bool:
    conditions = status.get("conditions") or ()
    return any(c.get("type") == "Stalled" and c.get("status") == "True" for c in conditions)


def line_key(job: JsonObject) -> tuple[str, str, str]:
    meta = job["metadata"]
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("namespace")), str(meta.get("name")))


@dataclass(frozen=True)
class Place:
    """Where a job stands: may it start now, and if not, its place among the waiting jobs."""

    may_start: bool
    position: int  # 1-based among the waiting jobs; 0 when it may start
    queued: int  # jobs of the tenant that cannot start yet
    active: int  # places taken
    limit: int


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
    """Where `job` (not yet created) stands among the tenant's jobs under a limit of `limit` active ones."""
    jobs = list(tenant_jobs)
    active = sum(1 for j in jobs if is_active(j) or j["metadata"]["uid"] in reserved)
    waiting = sorted(
        (
            j
            for j in jobs
            if not is_created(j)
            and not j["metadata"].get("deletionTimestamp")
            and j["metadata"]["uid"] not in reserved
        ),
        key=line_key,
    )
    uid = job["metadata"]["uid"]
    position = next((i for i, j in enumerate(waiting) if j["metadata"]["uid"] == uid), len(waiting))
    free = max(0, limit - active)
    queued = max(0, len(waiting) - free)
    if position < free:
        return Place(True, 0, queued, active, limit)
    return Place(False, position - free + 1, queued, active, limit)
