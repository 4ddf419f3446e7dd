"""Operator crashes: SIGKILL at random moments, including inside the create call and during deletion.

A killed operator runs no shutdown code, exactly as when a node dies. Whatever the moment, the restarted
operator must not create a second job for a resource (counted on the emulator, per resource UID label),
must leave no job running whose resource was deleted with the Cancel policy, and must leave no finalizer.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest
from e2e.support import Resources, tuning_job, wait_until_fired

from controller.external import intent_time
from emulator.server import Emulator
from reliability.scale import SCALE
from reliability.support import (
    ACTIVE_STATES,
    Operators,
    coherence_problems,
    duplicates,
    jobs_by_uid,
    list_objects,
    state_of,
    wait_all,
    wait_gone,
)

# The create intent is trusted for this long before an empty label search may lead to a second create; it
# must outlast the slowest create call (here the injected 2 s), as --create-grace-seconds must in production.
CRASH_ARGS = ("--create-grace-seconds=6",)
CREATE_LATENCY = 2.0
KINDS = ("create", "create-call", "delete")


@pytest.fixture
def slow_emulator(emulator: Emulator) -> Emulator:
    """Jobs last ~16 s (6 s pending, 10 s running), long enough to be killed around and deleted mid-run."""
    emulator.set_time_scale(10)
    return emulator


def _wait_intent(resources: Resources, name: str) -> None:
    resources.wait_for(
        name,
        lambda o: bool(intent_time(o)),
        timeout=60,
        what="create intent recorded",
    )


def test_sigkill_at_random_moments_loses_nothing_and_duplicates_nothing(
    resources: Resources, slow_emulator: Emulator, operators: Operators
) -> None:
    emulator = slow_emulator
    seed = int(os.environ.get("VERTEXOPS_RELIABILITY_SEED", "20260521"))
    rng = random.Random(seed)
    proc = operators.start(*CRASH_ARGS)
    uids: dict[str, str] = {}
    deleted: set[str] = set()
    trials: Counter[str] = Counter()
    landed: Counter[str] = Counter()
    serial = 0

    def new_resource() -> str:
        nonlocal serial
        serial += 1
        name = f"crash-{serial:03d}"
        uids[name] = resources.create(tuning_job(name))["metadata"]["uid"]
        return name

    for trial in range(SCALE.crash_trials):
        kind = KINDS[trial % len(KINDS)]
        name = target = ""
        if kind == "create":
            new_resource()
            new_resource()
            time.sleep(rng.uniform(0.0, 1.5))
        elif kind == "create-call":
            # The create call reaches Vertex but its answer is held back; the kill lands inside the call,
            # i.e. after the job exists remotely and before its name is in status.
            emulator.add_fault("latency", "tuningJobs.create", latency_seconds=CREATE_LATENCY, times=1)
            name = new_resource()
            _wait_intent(resources, name)
            time.sleep(rng.uniform(0.0, CREATE_LATENCY * 0.8))
        else:
            live = [o for o in list_objects(resources) if o["metadata"]["name"] not in deleted]
            candidates = [o for o in live if state_of(o) in ACTIVE_STATES] or live
            target = rng.choice(candidates)["metadata"]["name"]
            resources.delete(target)
            deleted.add(target)
            time.sleep(rng.uniform(0.0, 1.0))
        trials[kind] += 1
        proc.kill()
        # Where the kill landed: inside the create call (job not in status yet), or mid-deletion.
        if kind == "create-call" and not (resources.get(name) or {}).get("status", {}).get("name"):
            landed["inside the create call"] += 1
        if kind == "delete" and resources.get(target) is not None:
            landed["while the finalizer held"] += 1
        proc = operators.start(*CRASH_ARGS)

    kept = [n for n in uids if n not in deleted]
    final = wait_all(
        resources,
        kept,
        lambda o: state_of(o) == "JOB_STATE_SUCCEEDED" and not coherence_problems(o),
        timeout=180,
        what="Ready after the crashes",
    )
    wait_gone(resources, deleted, timeout=120)

    assert sum(trials.values()) == SCALE.crash_trials, trials
    # The dangerous moments were really hit, not just aimed at.
    if SCALE.crash_trials >= len(KINDS):
        assert landed["inside the create call"] > 0 and landed["while the finalizer held"] > 0, landed
    assert duplicates(emulator) == {}, f"duplicate jobs (seed {seed}): {duplicates(emulator)}"
    remote = jobs_by_uid(emulator)
    for name in kept:
        jobs = remote.get(uids[name], [])
        assert len(jobs) == 1, (name, jobs)
        assert final[name]["status"]["name"] == jobs[0].name
    running_after_delete = [
        (name, job.state)
        for name in deleted
        for job in remote.get(uids[name], [])
        if job.state in ACTIVE_STATES
    ]
    assert not running_after_delete, (
        f"jobs left running after Cancel deletion (seed {seed}): {running_after_delete}"
    )
    # A crash is not a transient API error to be reported as a failure: no job was cancelled except by delete.
    cancelled_kept = [n for n in kept if remote[uids[n]][0].state != "JOB_STATE_SUCCEEDED"]
    assert not cancelled_kept, cancelled_kept

    # Finally every resource is deleted by one last crash-free operator: no finalizer is left behind.
    for name in kept:
        resources.delete(name)
    wait_gone(resources, kept, timeout=120)
    assert list_objects(resources) == []
    print(
        f"crash trials {sum(trials.values())} ({dict(trials)}; kills landed {dict(landed)}), seed {seed}: "
        f"{len(uids)} resources, {len(deleted)} deleted with Cancel; 0 duplicates, 0 left running, "
        "0 finalizers left"
    )


def test_deleted_while_the_dead_operators_create_call_is_in_flight(
    resources: Resources, slow_emulator: Emulator, operators: Operators
) -> None:
    """The worst deletion moment: the create call is still travelling when the operator dies and the user
    deletes the resource. The job appears remotely only after the new operator has started."""
    emulator = slow_emulator
    held = emulator.add_fault("latency", "tuningJobs.create", latency_seconds=4.0, times=1)
    proc = operators.start(*CRASH_ARGS)
    uid = resources.create(tuning_job("in-flight"))["metadata"]["uid"]
    _wait_intent(resources, "in-flight")
    wait_until_fired(held, "the create call")
    proc.kill()
    resources.delete("in-flight")
    operators.start(*CRASH_ARGS)
    wait_gone(resources, ["in-flight"], timeout=120)
    deadline = time.monotonic() + 30
    while not jobs_by_uid(emulator).get(uid):  # the held-back create lands on the Vertex side
        assert time.monotonic() < deadline, "the create call never reached the emulator"
        time.sleep(0.2)
    time.sleep(3)
    jobs = jobs_by_uid(emulator)[uid]
    assert [j.state for j in jobs if j.state in ACTIVE_STATES] == [], jobs
