"""Continuous tuning: `preTunedModel` names the Model of a succeeded job, validated as Vertex AI does."""

from __future__ import annotations

import httpx
from emulator_helpers import PARENT, job_body

from emulator import Emulator


def _tuned_model_of_a_succeeded_job(emu: Emulator, http: httpx.Client) -> dict[str, object]:
    created = http.post(f"/v1/{PARENT}/tuningJobs", json=job_body())
    assert created.status_code == 200, created.text
    emu.advance(100_000)
    done = http.get(f"/v1/{created.json()['name']}").json()
    assert done["state"] == "JOB_STATE_SUCCEEDED"
    return dict(done["tunedModel"])


def _pre_tuned(pre: dict[str, object]) -> dict[str, object]:
    body = job_body(preTunedModel=pre)
    body.pop("baseModel")
    return body


def test_a_job_tunes_on_from_a_tuned_model_and_checkpoint(emu: Emulator, http: httpx.Client) -> None:
    tuned = _tuned_model_of_a_succeeded_job(emu, http)
    checkpoint = tuned["checkpoints"][0]["checkpointId"]  # type: ignore[index]
    pre = {"tunedModelName": tuned["model"], "checkpointId": checkpoint}
    created = http.post(f"/v1/{PARENT}/tuningJobs", json=_pre_tuned(pre))
    assert created.status_code == 200, created.text
    job = created.json()
    assert "baseModel" not in job
    assert job["preTunedModel"] == {**pre, "baseModel": job_body()["baseModel"]}  # baseModel: output only


def test_pre_tuned_model_is_refused_as_vertex_refuses_it(emu: Emulator, http: httpx.Client) -> None:
    tuned = _tuned_model_of_a_succeeded_job(emu, http)
    model = str(tuned["model"])
    cases = [
        (job_body(preTunedModel={"tunedModelName": model}), 400, "oneof field 'source_model'"),
        (_pre_tuned({"tunedModelName": "gemini-2.5-flash"}), 400, "Invalid tuned model name"),
        (_pre_tuned({"tunedModelName": model.rsplit("/", 1)[0] + "/123@1"}), 404, "not found"),
        (_pre_tuned({"tunedModelName": model.replace("us-central1", "europe-west4")}), 404, "not found"),
        (_pre_tuned({"tunedModelName": model, "checkpointId": "99"}), 400, "Checkpoint 99"),
    ]
    for body, status, text in cases:
        refused = http.post(f"/v1/{PARENT}/tuningJobs", json=body)
        assert refused.status_code == status, (body, refused.text)
        assert text in refused.json()["error"]["message"], refused.text
