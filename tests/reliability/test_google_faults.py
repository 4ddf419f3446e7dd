"""Google API faults: many jobs run while Vertex answers 503, 429 with Retry-After, drops connections and
stalls. Every job must end in its right terminal state, none may be created twice, none may be marked
failed because of a transient error, and the outage must be visible in Synced while it lasts.
"""

from __future__ import annotations

from collections import Counter

from e2e.support import Resources, condition, tuning_job

from emulator.server import Emulator
from reliability.scale import SCALE
from reliability.support import (
    Operators,
    Sampler,
    coherence_problems,
    cond_is,
    jobs_by_uid,
    state_of,
    wait_all,
)

FAILURE_MESSAGE = "Tuning failed: the reliability suite failed this job on purpose."
TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}


def _settled(obj: dict[str, object]) -> bool:
    return (
        state_of(obj) in TERMINAL and cond_is(obj, "Reconciling", "False") and cond_is(obj, "Synced", "True")
    )


def test_every_job_reaches_its_right_end_through_503_429_drops_and_latency(
    resources: Resources, emulator: Emulator, operators: Operators
) -> None:
    count = SCALE.fault_jobs
    names = [f"{'doomed' if i % 5 == 0 else 'job'}-{i:03d}" for i in range(count)]
    doomed = {n for n in names if n.startswith("doomed")}
    emulator.fail_jobs(display_name="doomed-*", at_fraction=0.5, message=FAILURE_MESSAGE)
    # Every Google method, the create call included: it is the one the client never retries.
    emulator.add_fault("status", "*", status=503, probability=0.10)
    emulator.add_fault("status", "*", status=429, retry_after_seconds=1, probability=0.05)
    emulator.add_fault("drop", "*", probability=0.02)
    emulator.add_fault("latency", "*", latency_seconds=1.5, probability=0.03)

    operators.start()
    uids: dict[str, str] = {}
    with Sampler(resources) as sampler:
        for name in names:
            uids[name] = resources.create(tuning_job(name))["metadata"]["uid"]
        final = wait_all(resources, names, _settled, timeout=120 + 4 * count, what="a settled terminal state")

    # Faults really fired, on the create call too (it is attempted once per try, so it must have failed).
    creates = Counter(r.status for r in emulator.requests("tuningJobs.create"))
    assert creates[200] == count, creates
    assert sum(n for code, n in creates.items() if code != 200) > 0, f"no create call hit a fault: {creates}"

    # Exactly one remote job per resource.
    remote = jobs_by_uid(emulator)
    for name, uid in uids.items():
        assert len(remote.get(uid, [])) == 1, f"{name}: {len(remote.get(uid, []))} remote jobs"
    assert sum(len(v) for v in remote.values()) == count

    # Each job ended where it should, and said so coherently.
    for name, obj in final.items():
        status = obj["status"]
        if name in doomed:
            assert status["state"] == "JOB_STATE_FAILED", (name, status["state"])
            assert status["error"]["message"] == FAILURE_MESSAGE
            assert condition(obj, "Stalled")["reason"] == "JobFailed"  # type: ignore[index]
        else:
            assert status["state"] == "JOB_STATE_SUCCEEDED", (name, status["state"])
        assert status["name"] == remote[uids[name]][0].name
        assert not coherence_problems(obj), (name, coherence_problems(obj))

    # No transient error ever made a healthy job look failed, not even for a moment: every job was sampled
    # again and again on its way (an empty sample would prove nothing).
    thin = {name: sampler.samples_of(name) for name in names if sampler.samples_of(name) < 5}
    assert not thin, f"jobs sampled fewer than 5 times: {thin}"
    healthy_failed = sorted(
        {
            name
            for name, obj in sampler.matching(
                lambda o: state_of(o) == "JOB_STATE_FAILED" or cond_is(o, "Stalled", "True")
            )
            if name not in doomed
        }
    )
    assert not healthy_failed, f"healthy jobs seen failed or stalled: {healthy_failed}"

    # The outage was visible while it lasted: Synced=False with reason APIError.
    outage = sampler.matching(lambda o: cond_is(o, "Synced", "False", "APIError"))
    assert outage, "Synced=False (APIError) was never observed during the faults"
    message = condition(outage[0][1], "Synced")["message"]  # type: ignore[index]
    assert "transient" in message, message
