"""Continuous tuning from another TuningJob (spec.preTunedModel.tuningJobRef) on a real API server, the
operator in its own process and the emulator as Vertex AI: a chain applied at once runs in order, and a
loop of references is refused without creating anything."""

from __future__ import annotations

from datetime import datetime

from e2e.conftest import OperatorFactory
from e2e.support import Resources, condition, is_true, tuning_job
from emulator.server import Emulator


def _from_job(name: str, dependency: str) -> dict[str, object]:
    manifest = tuning_job(name, preTunedModel={"tuningJobRef": {"name": dependency}})
    del manifest["spec"]["baseModel"]  # type: ignore[attr-defined]
    return manifest


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_chain_of_three_applied_at_once_runs_in_order(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    start_operator()
    # Last first: the order of the creates must come from the references, not from the order of apply.
    resources.create(_from_job("chain-c", "chain-b"))
    resources.create(_from_job("chain-b", "chain-a"))
    resources.create(tuning_job("chain-a"))

    waiting = resources.wait_for(
        "chain-c",
        lambda o: (condition(o, "Reconciling") or {}).get("reason") == "WaitingForDependency",
        what="Reconciling WaitingForDependency",
    )
    reconciling = condition(waiting, "Reconciling")
    assert reconciling is not None and reconciling["status"] == "True"
    assert "TuningJob chain-b" in reconciling["message"], reconciling
    assert not is_true(waiting, "Stalled")

    jobs = {
        name: resources.wait_for(name, lambda o: is_true(o, "Ready"), timeout=120, what="Ready")
        for name in ("chain-a", "chain-b", "chain-c")
    }
    creates = [r.created for r in emulator.requests("tuningJobs.create") if r.status == 200]
    assert creates == [jobs[n]["status"]["name"] for n in ("chain-a", "chain-b", "chain-c")]
    assert "preTunedModel" not in jobs["chain-a"]["status"]
    for name, dependency in (("chain-b", "chain-a"), ("chain-c", "chain-b")):
        status, before = jobs[name]["status"], jobs[dependency]["status"]
        assert status["preTunedModel"] == {
            "tunedModelName": before["tunedModel"]["model"],
            "baseModel": "gemini-2.5-flash",
            "tuningJob": dependency,
        }
        assert _time(status["createTime"]) >= _time(before["endTime"])  # created after its dependency ended


def test_a_loop_of_references_is_stalled_naming_it_and_creates_nothing(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    start_operator()
    resources.create(_from_job("loop-x", "loop-y"))
    resources.create(_from_job("loop-y", "loop-x"))
    for name, cycle in (("loop-x", "loop-x -> loop-y -> loop-x"), ("loop-y", "loop-y -> loop-x -> loop-y")):
        stalled = resources.wait_for(
            name,
            lambda o: (condition(o, "Stalled") or {}).get("reason") == "DependencyCycle",
            what="Stalled DependencyCycle",
        )
        message = (condition(stalled, "Stalled") or {})["message"]
        assert cycle in message and is_true(stalled, "Stalled"), message
        assert not is_true(stalled, "Reconciling")
    assert emulator.count("tuningJobs.create") == 0
