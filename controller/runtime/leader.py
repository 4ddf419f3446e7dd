"""Leader election on a `coordination.k8s.io/v1` Lease, by client-go's rules: only one replica reconciles.

- A candidate takes the Lease when it does not exist, when its holder is empty (released), or when the
  holder has not renewed it for `lease_duration`. "Not renewed" is judged by this process's own monotonic
  clock from the moment it last saw the Lease record change, never by comparing the `renewTime` written by
  another machine with our wall clock, so clock skew between nodes does not matter.
- Every write is a PUT carrying the resourceVersion that was read: when two candidates race, the API server
  accepts one and answers 409 Conflict to the other, which simply is not the leader.
- The leader renews every `retry_period`. If it cannot renew for `renew_deadline` (shorter than the lease
  duration), it stops leading before any follower may take over, so two leaders never overlap.
- On a clean stop the leader releases the Lease (empty holder, 1-second duration) so a follower can take
  over at its next retry instead of waiting out the lease.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from controller.runtime.kubeapi import CONNECTION_ERRORS, LEASES, ApiError, JsonObject, KubeApi

log = logging.getLogger(__name__)

_ERRORS: tuple[type[BaseException], ...] = (ApiError, *CONNECTION_ERRORS)


def default_identity() -> str:
    """Host name plus a random suffix: unique per process even when two replicas share a host name."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:10]}"


def _micro_time(now: dt.datetime) -> str:
    """The Lease's MicroTime format: RFC 3339 with exactly six fractional digits."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        name: str,
        *,
        identity: str | None = None,
        lease_duration_seconds: float = 15.0,
        renew_deadline_seconds: float = 10.0,
        retry_period_seconds: float = 2.0,
        on_started_leading: Callable[[], None] = lambda: None,
        on_stopped_leading: Callable[[], None] = lambda: None,
        on_new_leader: Callable[[str], None] = lambda identity: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < retry_period_seconds < renew_deadline_seconds < lease_duration_seconds:
            raise ValueError(
                "leader election: need 0 < retry_period_seconds < renew_deadline_seconds"
                " < lease_duration_seconds, got "
                f"{retry_period_seconds}, {renew_deadline_seconds}, {lease_duration_seconds}"
            )
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_duration_seconds = lease_duration_seconds
        self.renew_deadline_seconds = renew_deadline_seconds
        self.retry_period_seconds = retry_period_seconds
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self._clock = clock
        self._path = LEASES.object_path(name, namespace)
        self._collection = LEASES.collection_path(namespace)
        self._stop = threading.Event()
        self._release_on_stop = True
        self._leading = threading.Event()
        self._thread: threading.Thread | None = None
        self._observed_record: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._last_holder: str | None = None
        # Bound each request well inside the renew deadline so one hung call cannot outlast it.
        self._timeout = (min(5.0, renew_deadline_seconds), renew_deadline_seconds)

    @property
    def is_leader(self) -> bool:
        return self._leading.is_set()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("leader election: already started")
        self._thread = threading.Thread(target=self.run, name=f"leader-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, release: bool = True, timeout: float = 10.0) -> None:
        """Stop campaigning; when leading, release the Lease first (unless `release` is False)."""
        self._release_on_stop = release
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def run(self) -> None:
        """Campaign until leading, lead until the Lease is lost or `stop()` is called, then return."""
        log.info(
            "leader election: campaigning",
            extra={"lease": f"{self.namespace}/{self.name}", "identity": self.identity},
        )
        while not self._stop.is_set():
            if self.try_acquire_or_renew():
                break
            self._stop.wait(self.retry_period_seconds * random.uniform(1.0, 1.2))
        if self._stop.is_set():
            return
        self._leading.set()
        log.info(
            "leader election: leading",
            extra={"lease": f"{self.namespace}/{self.name}", "identity": self.identity},
        )
        try:
            self.on_started_leading()
            self._renew_until_lost_or_stopped()
        finally:
            self._leading.clear()
            if self._stop.is_set() and self._release_on_stop:
                self.release()
            self.on_stopped_leading()

    def _renew_until_lost_or_stopped(self) -> None:
        last_renewed = self._clock()
        while not self._stop.wait(self.retry_period_seconds):
            if self.try_acquire_or_renew():
                last_renewed = self._clock()
            elif self._clock() - last_renewed >= self.renew_deadline_seconds:
                log.error(
                    "leader election: could not renew the lease within the renew deadline; stopped leading",
                    extra={"lease": f"{self.namespace}/{self.name}", "deadline": self.renew_deadline_seconds},
                )
                return

    # -- one attempt -----------------------------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One read-check-write round; True when this candidate holds the Lease afterwards."""
        now_wall = dt.datetime.now(dt.UTC)
        try:
            lease = self.api.request("GET", self._path, timeout=self._timeout)
        except ApiError as err:
            if err.not_found:
                return self._create(now_wall)
            log.warning("leader election: cannot read the lease", extra={"error": str(err)})
            return False
        except CONNECTION_ERRORS as err:
            log.warning(
                "leader election: cannot reach the API server", extra={"error": f"{type(err).__name__}"}
            )
            return False

        spec: JsonObject = lease.get("spec") or {}
        self._observe(spec)
        holder = str(spec.get("holderIdentity") or "")
        if holder and holder != self.identity and not self._observed_expired():
            return False
        taking_over = holder != self.identity
        lease["spec"] = {
            **spec,
            "holderIdentity": self.identity,
            "leaseDurationSeconds": math.ceil(self.lease_duration_seconds),
            "renewTime": _micro_time(now_wall),
            "acquireTime": _micro_time(now_wall) if taking_over else spec.get("acquireTime"),
            "leaseTransitions": int(spec.get("leaseTransitions") or 0) + (1 if taking_over and holder else 0),
        }
        return self._write(lease)

    def _create(self, now_wall: dt.datetime) -> bool:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": math.ceil(self.lease_duration_seconds),
                "acquireTime": _micro_time(now_wall),
                "renewTime": _micro_time(now_wall),
                "leaseTransitions": 0,
            },
        }
        try:
            created = self.api.request("POST", self._collection, body=lease, timeout=self._timeout)
        except ApiError as err:
            if not err.conflict:
                log.warning("leader election: cannot create the lease", extra={"error": str(err)})
            return False
        except CONNECTION_ERRORS:
            return False
        self._observe(created.get("spec") or {})
        return True

    def _write(self, lease: JsonObject) -> bool:
        try:
            written = self.api.request("PUT", self._path, body=lease, timeout=self._timeout)
        except ApiError as err:
            if not err.conflict:  # 409: another candidate wrote first, which is an ordinary loss
                log.warning("leader election: cannot update the lease", extra={"error": str(err)})
            return False
        except CONNECTION_ERRORS:
            return False
        self._observe(written.get("spec") or {})
        return True

    def _observe(self, spec: JsonObject) -> None:
        record = {
            key: spec.get(key)
            for key in (
                "holderIdentity",
                "leaseDurationSeconds",
                "acquireTime",
                "renewTime",
                "leaseTransitions",
            )
        }
        if record != self._observed_record:
            self._observed_record = record
            self._observed_at = self._clock()
        holder = str(record.get("holderIdentity") or "")
        if holder != self._last_holder:
            self._last_holder = holder
            if holder:
                log.info("leader election: new leader observed", extra={"leader": holder})
                self.on_new_leader(holder)

    def _observed_expired(self) -> bool:
        return self._clock() - self._observed_at >= self.lease_duration_seconds

    def release(self) -> bool:
        """Give the Lease up if we hold it, so another replica can take over without waiting it out."""
        try:
            lease = self.api.request("GET", self._path, timeout=self._timeout)
        except _ERRORS as err:
            log.warning("leader election: cannot read the lease to release it", extra={"error": str(err)})
            return False
        spec: JsonObject = lease.get("spec") or {}
        if spec.get("holderIdentity") != self.identity:
            return False
        now = _micro_time(dt.datetime.now(dt.UTC))
        lease["spec"] = {
            **spec,
            "holderIdentity": None,
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
        }
        released = self._write(lease)
        if released:
            log.info("leader election: released the lease", extra={"lease": f"{self.namespace}/{self.name}"})
        return released
