"""Garbage from Google: malformed JSON, a job state nobody documented, fields missing, a job that vanished.
Each must end in a clear condition on the resources it touches; the operator must not crash (process alive,
/healthz 200) and the other resources must go on to finish.
"""

from __future__ import annotations

from typing import Any

import pytest
from e2e.support import Resources, condition, is_true, tuned_model, tuning_job

from emulator.server import Emulator
from reliability.support import (
    Operators,
    Sampler,
    coherence_problems,
    cond_is,
    healthz,
    state_of,
    vanish,
    wait_all,
)

BYSTANDERS = ["bystander-a", "bystander-b"]


def _has_name(obj: dict[str, Any]) -> bool:
    return bool((obj.get("status") or {}).get("name"))


def _message(obj: dict[str, Any], type_: str) -> str:
    found = condition(obj, type_)
    return "" if found is None else str(found.get("message", ""))


@pytest.fixture
def frozen(emulator: Emulator) -> Emulator:
    """Simulated time stands still, so every job stays running while garbage is served."""
    emulator.set_time_scale(0)
    return emulator


def test_garbage_answers_give_clear_conditions_and_crash_nothing(
    resources: Resources, frozen: Emulator, operators: Operators
) -> None:
    emulator = frozen
    proc = operators.start()
    for name in [*BYSTANDERS, "vanishing"]:
        resources.create(tuning_job(name))
    created = wait_all(resources, [*BYSTANDERS, "vanishing"], _has_name, timeout=60, what="a job name")
    emulator.advance(61)  # every job now runs
    wait_all(resources, BYSTANDERS, lambda o: state_of(o) == "JOB_STATE_RUNNING", timeout=60, what="RUNNING")

    with Sampler(resources) as sampler:
        # 1. A job that vanished: 404 on its own resource only.
        vanish(emulator, created["vanishing"]["status"]["name"])
        gone = wait_all(
            resources, ["vanishing"], lambda o: cond_is(o, "Stalled", "True"), timeout=60, what="Stalled"
        )["vanishing"]
        stalled = condition(gone, "Stalled")
        assert stalled is not None and stalled["reason"] == "NotFound", stalled
        assert created["vanishing"]["status"]["name"].rsplit("/", 1)[-1] in stalled["message"], stalled

        # 2. A body that is not JSON, on every list and get.
        rule = emulator.add_fault("malformed", "tuningJobs.*")
        garbled = wait_all(
            resources,
            BYSTANDERS,
            lambda o: cond_is(o, "Synced", "False", "APIError"),
            timeout=60,
            what="Synced=False for malformed JSON",
        )
        assert "JSON" in _message(garbled[BYSTANDERS[0]], "Synced"), garbled[BYSTANDERS[0]]
        assert proc.running and healthz(proc) == 200
        emulator.remove_fault(rule.id)

        # 3. A state no documentation lists.
        rule = emulator.add_fault("unknown_state", "tuningJobs.*", state="JOB_STATE_FROM_THE_FUTURE")
        odd = wait_all(
            resources,
            BYSTANDERS,
            lambda o: "JOB_STATE_FROM_THE_FUTURE" in _message(o, "Reconciling"),
            timeout=60,
            what="the unknown state named in Reconciling",
        )
        for obj in odd.values():
            assert cond_is(obj, "Ready", "False") and cond_is(obj, "Stalled", "False"), obj["status"]
        assert proc.running and healthz(proc) == 200
        emulator.remove_fault(rule.id)

        # 4. Fields every job has, missing.
        rule = emulator.add_fault("missing_fields", "tuningJobs.*", fields=["name", "state"])
        mark = len(sampler.seen)
        wait_all(
            resources,
            BYSTANDERS,
            lambda o: cond_is(o, "Synced", "False"),
            timeout=60,
            what="Synced=False for jobs without name and state",
        )
        assert proc.running and healthz(proc) == 200
        emulator.remove_fault(rule.id)

        # The bystanders recover and finish; the vanished job stays stalled and says why.
        emulator.set_time_scale(50)
        final = wait_all(
            resources,
            BYSTANDERS,
            lambda o: state_of(o) == "JOB_STATE_SUCCEEDED" and not coherence_problems(o),
            timeout=120,
            what="Ready after the garbage",
        )
        assert len(final) == 2
    missing = {
        _message(o, "Synced")
        for _, name, o in sampler.seen[mark:]
        if name in BYSTANDERS and cond_is(o, "Synced", "False")
    }
    assert missing and all("name: Field required" in m for m in missing), missing
    # Garbage is never taken for a verdict on the job: no bystander was ever failed or stalled.
    assert not sampler.matching(
        lambda o: (
            o["metadata"]["name"] in BYSTANDERS
            and (cond_is(o, "Stalled", "True") or state_of(o) == "JOB_STATE_FAILED")
        )
    )
    assert cond_is(resources.get("vanishing") or {}, "Stalled", "True")
    assert proc.running and healthz(proc) == 200


def _creating(obj: dict[str, Any]) -> bool:
    return state_of(obj) == "CREATING"


def _any_message(obj: dict[str, Any], text: str) -> bool:
    return any(text in str(c.get("message", "")) for c in (obj.get("status") or {}).get("conditions") or [])


def test_gemini_garbage_gives_clear_conditions_and_the_models_still_finish(
    resources: Resources, frozen: Emulator, operators: Operators
) -> None:
    emulator = frozen
    proc = operators.start()
    models = ["model-a", "model-b"]
    for name in models:
        resources.create(tuned_model(name), "tunedmodels")
    wait_all(
        resources,
        models,
        lambda o: state_of(o) == "CREATING",
        timeout=60,
        what="CREATING",
        plural="tunedmodels",
    )

    with Sampler(resources, plural="tunedmodels") as sampler:
        rule = emulator.add_fault("malformed", "tunedModels.*")
        garbled = wait_all(
            resources,
            models,
            lambda o: cond_is(o, "Synced", "False", "APIError"),
            timeout=60,
            what="Synced=False for malformed JSON",
            plural="tunedmodels",
        )
        assert all("JSON" in _message(o, "Synced") for o in garbled.values()), garbled
        assert proc.running and healthz(proc) == 200
        emulator.remove_fault(rule.id)

        rule = emulator.add_fault("unknown_state", "tunedModels.*", state="STATE_FROM_THE_FUTURE")
        odd = wait_all(
            resources,
            models,
            lambda o: _any_message(o, "STATE_FROM_THE_FUTURE"),
            timeout=60,
            what="the unknown state named in a condition",
            plural="tunedmodels",
        )
        for obj in odd.values():
            assert cond_is(obj, "Ready", "False") and cond_is(obj, "Stalled", "False"), obj["status"]
        assert proc.running and healthz(proc) == 200
        emulator.remove_fault(rule.id)

        emulator.set_time_scale(50)
        wait_all(
            resources, models, lambda o: is_true(o, "Ready"), timeout=120, what="Ready", plural="tunedmodels"
        )
    assert not sampler.matching(lambda o: cond_is(o, "Stalled", "True") or state_of(o) == "FAILED")
    assert emulator.count("tunedModels.create") == len(models)
