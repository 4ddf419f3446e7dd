"""Leader election against the real API server: one leader, hand-over on release, on expiry, on lost renewals.

Durations are short (2 s lease) so the tests finish quickly; the assertions are about the order of events
and who holds the Lease, never about how long anything took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from controller.runtime.kubeapi import LEASES, KubeApi
from controller.runtime.leader import LeaderElector

from .helpers import eventually
from .tcpproxy import TcpProxy

FAST = {"lease_duration_seconds": 2.0, "renew_deadline_seconds": 1.5, "retry_period_seconds": 0.2}


class Timeline:
    """The order in which candidates started and stopped leading."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, str]] = []

    def add(self, who: str, what: str) -> None:
        with self._lock:
            self.events.append((who, what))

    def snapshot(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.events)


@pytest.fixture
def timeline() -> Timeline:
    return Timeline()


@pytest.fixture
def candidates(timeline: Timeline, namespace: str) -> Iterator[Any]:
    made: list[LeaderElector] = []

    def make(who: str, api: KubeApi, **overrides: float) -> LeaderElector:
        elector = LeaderElector(
            api,
            namespace,
            "runtime-test",
            identity=who,
            on_started_leading=lambda: timeline.add(who, "started"),
            on_stopped_leading=lambda: timeline.add(who, "stopped"),
            **{**FAST, **overrides},
        )
        made.append(elector)
        return elector

    yield make
    for elector in made:
        elector.stop(release=False)


def lease_holder(kube: KubeApi, namespace: str) -> str | None:
    spec = kube.get(LEASES.object_path("runtime-test", namespace)).get("spec") or {}
    holder = spec.get("holderIdentity")
    return str(holder) if holder else None


def watch_leaders(electors: list[LeaderElector], seconds: float) -> int:
    """Sample who leads for a while; return the largest number of simultaneous leaders seen."""
    most = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        most = max(most, sum(e.is_leader for e in electors))
        time.sleep(0.02)
    return most


def test_only_one_candidate_leads_and_a_release_hands_over_at_once(
    kube: KubeApi, namespace: str, candidates: Any, timeline: Timeline
) -> None:
    a, b = candidates("a", kube), candidates("b", kube)
    a.start()
    eventually(lambda: a.is_leader, "a leads")
    b.start()
    # b keeps campaigning through many retry periods and lease lengths, without ever taking over.
    assert watch_leaders([a, b], seconds=3 * FAST["lease_duration_seconds"]) == 1
    assert not b.is_leader
    assert lease_holder(kube, namespace) == "a"

    a.stop(release=True)
    eventually(lambda: b.is_leader, "b leads after a released the lease")
    assert timeline.snapshot() == [("a", "started"), ("a", "stopped"), ("b", "started")]
    lease = kube.get(LEASES.object_path("runtime-test", namespace))
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 0  # a's release emptied the holder: b took a free lease


def test_a_release_empties_the_holder(kube: KubeApi, namespace: str, candidates: Any) -> None:
    a = candidates("a", kube)
    a.start()
    eventually(lambda: a.is_leader, "a leads")
    a.stop(release=True)
    assert not a.is_leader
    assert lease_holder(kube, namespace) is None


def test_a_leader_that_stops_renewing_is_replaced_once_its_lease_expires(
    kube: KubeApi, namespace: str, candidates: Any, timeline: Timeline
) -> None:
    a, b = candidates("a", kube), candidates("b", kube)
    a.start()
    eventually(lambda: a.is_leader, "a leads")
    b.start()
    eventually(lambda: lease_holder(kube, namespace) == "a" and not b.is_leader, "b follows")
    a.stop(release=False)  # like a crash: the lease still names a, but nobody renews it
    assert lease_holder(kube, namespace) == "a"
    eventually(lambda: b.is_leader, "b takes over the expired lease")
    assert timeline.snapshot() == [("a", "started"), ("a", "stopped"), ("b", "started")]
    lease = kube.get(LEASES.object_path("runtime-test", namespace))
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1


def test_a_leader_cut_off_from_the_api_server_stops_leading_before_another_takes_over(
    *,
    proxied_api_client: k8s.ApiClient,
    proxy: TcpProxy,
    kube: KubeApi,
    namespace: str,
    candidates: Any,
    timeline: Timeline,
) -> None:
    cut_off = candidates("cut-off", KubeApi(proxied_api_client))
    other = candidates("other", kube)
    cut_off.start()
    eventually(lambda: cut_off.is_leader, "cut-off leads")
    other.start()
    proxy.block()  # cut-off can no longer renew
    eventually(lambda: other.is_leader, "other takes over")
    eventually(lambda: not cut_off.is_leader, "cut-off no longer believes it leads")
    # The renew deadline is shorter than the lease: the old leader gave up before the new one started.
    assert timeline.snapshot() == [("cut-off", "started"), ("cut-off", "stopped"), ("other", "started")]


def test_durations_that_could_overlap_two_leaders_are_refused(kube: KubeApi) -> None:
    with pytest.raises(ValueError, match="renew_deadline_seconds"):
        LeaderElector(
            kube, "ns", "lease", lease_duration_seconds=5, renew_deadline_seconds=5, retry_period_seconds=1
        )
