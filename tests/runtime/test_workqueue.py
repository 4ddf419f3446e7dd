"""Work queue: de-duplication, per-key serialisation, backoff growth and cap, delayed adds, shutdown."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import pytest

from controller.runtime.workqueue import ExponentialBackoff, WorkQueue

WAIT = 10.0  # generous bound for anything asynchronous; tests never depend on it being reached


def drain(queue: WorkQueue[str]) -> list[str]:
    """Take every ready key (marking each done), without blocking."""
    taken = []
    while (item := queue.get(timeout=0)) is not None:
        taken.append(item)
        queue.done(item)
    return taken


def test_a_key_added_while_waiting_is_queued_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    for key in ["a", "b", "a", "a", "b", "c"]:
        queue.add(key)
    assert len(queue) == 3
    assert drain(queue) == ["a", "b", "c"]
    assert len(queue) == 0


def test_a_key_added_while_processing_comes_back_after_done_and_only_then() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    assert queue.get(timeout=0) == "a"
    queue.add("a")
    queue.add("a")
    # Being processed: not handed out again, even though it was re-added.
    assert queue.get(timeout=0) is None
    assert len(queue) == 0
    queue.done("a")
    assert len(queue) == 1
    assert queue.get(timeout=0) == "a"
    queue.done("a")
    assert queue.get(timeout=0) is None


def test_two_workers_never_hold_the_same_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    holding: Counter[str] = Counter()
    processed: Counter[str] = Counter()
    overlaps: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while (key := queue.get()) is not None:
            with lock:
                holding[key] += 1
                if holding[key] > 1:
                    overlaps.append(key)
            time.sleep(0.002)  # hold the key long enough for other workers to try to take it
            with lock:
                holding[key] -= 1
                processed[key] += 1
            queue.done(key)

    workers = [threading.Thread(target=worker) for _ in range(4)]
    for thread in workers:
        thread.start()
    keys = ["x", "y"]
    for round_ in range(200):
        queue.add(keys[round_ % 2])
        if round_ % 10 == 0:
            time.sleep(0.001)
    deadline = time.monotonic() + WAIT
    while (len(queue) or queue.processing_seconds()) and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    queue.shutdown()
    for thread in workers:
        thread.join(WAIT)
    assert overlaps == []
    assert set(processed) == {"x", "y"}
    # De-duplication means far fewer reconciles than adds, but every key was processed after its last add.
    assert sum(processed.values()) < 200


def test_backoff_doubles_per_key_and_is_capped() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff(base_seconds=0.005, cap_seconds=1.0)
    delays = [backoff.when("a") for _ in range(10)]
    assert delays[:5] == [0.005, 0.01, 0.02, 0.04, 0.08]
    assert delays[-1] == 1.0
    assert max(delays) == 1.0
    assert all(later >= earlier for earlier, later in itertools.pairwise(delays))
    # Per key: another key starts at the base.
    assert backoff.when("b") == 0.005
    assert backoff.failures("a") == 10
    backoff.forget("a")
    assert backoff.failures("a") == 0
    assert backoff.when("a") == 0.005


def test_backoff_survives_huge_failure_counts() -> None:
    backoff: ExponentialBackoff[str] = ExponentialBackoff(base_seconds=0.005, cap_seconds=300.0)
    for _ in range(2000):
        delay = backoff.when("a")
    assert delay == 300.0


def test_backoff_rejects_nonsense_settings() -> None:
    with pytest.raises(ValueError, match="base_seconds"):
        ExponentialBackoff(base_seconds=0, cap_seconds=1)
    with pytest.raises(ValueError, match="cap_seconds"):
        ExponentialBackoff(base_seconds=2, cap_seconds=1)


def test_rate_limited_add_waits_its_backoff_and_forget_resets_it() -> None:
    queue: WorkQueue[str] = WorkQueue(backoff=ExponentialBackoff(base_seconds=0.05, cap_seconds=10))
    queue.add_rate_limited("a")
    assert queue.num_requeues("a") == 1
    assert queue.get(timeout=0) is None  # not due yet
    assert queue.waiting() == 1
    assert queue.get(timeout=WAIT) == "a"
    queue.done("a")
    queue.add_rate_limited("a")
    assert queue.num_requeues("a") == 2
    queue.forget("a")
    assert queue.num_requeues("a") == 0


def test_add_after_hands_keys_out_in_due_order() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("late", 0.3)
    queue.add_after("early", 0.05)
    queue.add_after("middle", 0.15)
    queue.add("now")
    order = []
    for _ in range(4):
        key = queue.get(timeout=WAIT)
        assert key is not None
        order.append(key)
        queue.done(key)
    assert order == ["now", "early", "middle", "late"]


def test_an_earlier_add_after_wins_over_a_later_one() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 60)
    queue.add_after("a", 0.05)  # earlier: replaces the 60 s wait
    queue.add_after("a", 120)  # later: ignored
    queue.add_after("marker", 0.5)
    assert queue.get(timeout=WAIT) == "a"
    queue.done("a")
    assert queue.get(timeout=WAIT) == "marker"
    queue.done("marker")
    # The superseded 60 s and 120 s entries do not bring "a" back.
    assert queue.waiting() == 0
    assert queue.get(timeout=0.2) is None


def test_a_delayed_key_that_is_already_queued_is_not_queued_twice() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add_after("a", 0.01)
    time.sleep(0.05)
    assert len(queue) == 1
    assert drain(queue) == ["a"]


def test_a_waiting_worker_wakes_for_a_delayed_key_added_after_it_started_waiting() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("far", 60)
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get(timeout=WAIT)))
    worker.start()
    time.sleep(0.05)  # the worker now sleeps until "far" is due
    queue.add_after("near", 0.05)
    worker.join(WAIT)
    assert got == ["near"]


def test_shutdown_wakes_waiting_workers_and_ignores_new_adds() -> None:
    queue: WorkQueue[str] = WorkQueue()
    results: list[str | None] = []
    workers = [threading.Thread(target=lambda: results.append(queue.get())) for _ in range(3)]
    for thread in workers:
        thread.start()
    time.sleep(0.05)
    queue.shutdown()
    for thread in workers:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in workers)
    assert results == [None, None, None]
    assert queue.shutting_down
    queue.add("a")
    queue.add_after("b", 0.01)
    queue.add_rate_limited("c")
    assert len(queue) == 0
    assert queue.get(timeout=0) is None


def test_keys_queued_before_shutdown_are_not_handed_out_after_it() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("b")
    assert queue.get(timeout=0) == "a"
    queue.shutdown()
    assert queue.get(timeout=0) is None
    queue.done("a")  # finishing the in-flight key is still allowed
    assert queue.processing_seconds() == []


def test_observer_sees_adds_retries_and_work() -> None:
    events: list[str] = []

    class Recorder:
        def added(self) -> None:
            events.append("added")

        def retried(self) -> None:
            events.append("retried")

        def started(self, waited_seconds: float) -> None:
            assert waited_seconds >= 0
            events.append("started")

        def finished(self, worked_seconds: float) -> None:
            assert worked_seconds >= 0
            events.append("finished")

    queue: WorkQueue[str] = WorkQueue(observer=Recorder(), backoff=ExponentialBackoff(0.01, 1))
    queue.add("a")
    queue.add("a")  # duplicate: not counted
    key = queue.get(timeout=0)
    assert key == "a"
    queue.add_rate_limited("a")
    queue.done("a")
    assert queue.get(timeout=WAIT) == "a"
    queue.done("a")
    # The retry is delayed, so its add lands after done().
    assert events == ["added", "started", "retried", "finished", "added", "started", "finished"]
