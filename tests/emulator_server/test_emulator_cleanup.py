"""Removing what a tuning job left: undeploy the tuned model, delete the endpoint, delete the model, each a
long-running operation, in the order Vertex requires (nothing deployed can be deleted)."""

from __future__ import annotations

from typing import Any

import httpx
from emulator_helpers import PARENT, job_body

from emulator import Emulator


def _succeeded(emu: Emulator, http: httpx.Client) -> dict[str, Any]:
    job = http.post(f"/v1/{PARENT}/tuningJobs", json=job_body()).json()
    emu.advance(10_000)
    done: dict[str, Any] = http.get(f"/v1/{job['name']}").json()
    assert done["state"] == "JOB_STATE_SUCCEEDED"
    return done


def _until_done(emu: Emulator, http: httpx.Client, operation: dict[str, Any]) -> dict[str, Any]:
    assert "done" not in operation  # proto3 leaves `done: false` out
    emu.advance(10)
    polled: dict[str, Any] = http.get(f"/v1/{operation['name']}").json()
    assert polled["done"] is True and "error" not in polled
    return polled


def test_undeploy_then_delete_the_endpoint_and_the_model_in_order(emu: Emulator, http: httpx.Client) -> None:
    job = _succeeded(emu, http)
    endpoint_name = job["tunedModel"]["endpoint"]
    model_name = job["tunedModel"]["model"]  # ...models/{id}@1
    endpoint = http.get(f"/v1/{endpoint_name}").json()
    (deployed,) = endpoint["deployedModels"]
    assert deployed["model"] == model_name.split("@")[0] and deployed["modelVersionId"] == "1"
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}
    prompt = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert http.post(f"/v1/{endpoint_name}:generateContent", json=prompt).status_code == 200

    # Nothing deployed can be deleted: Google's error body, FAILED_PRECONDITION.
    for refused in (http.delete(f"/v1/{model_name}"), http.delete(f"/v1/{endpoint_name}")):
        assert refused.status_code == 400
        assert refused.json()["error"]["status"] == "FAILED_PRECONDITION"
        assert endpoint_name in refused.json()["error"]["message"]

    undeploy = http.post(
        f"/v1/{endpoint_name}:undeployModel", json={"deployedModelId": deployed["id"]}
    ).json()
    assert undeploy["name"].startswith(f"{endpoint_name}/operations/")
    assert undeploy["metadata"]["@type"].endswith("v1.UndeployModelOperationMetadata")
    assert http.delete(f"/v1/{model_name}").status_code == 400  # still being undeployed
    done = _until_done(emu, http, undeploy)
    assert done["response"]["@type"].endswith("v1.UndeployModelResponse")
    assert http.get(f"/ui/{undeploy['name']}").json() == done  # where the REST SDK polls operations
    assert "deployedModels" not in http.get(f"/v1/{endpoint_name}").json()
    assert http.post(f"/v1/{endpoint_name}:generateContent", json=prompt).status_code == 404

    delete_endpoint = http.delete(f"/v1/{endpoint_name}").json()
    assert delete_endpoint["metadata"]["@type"].endswith("v1.DeleteOperationMetadata")
    assert _until_done(emu, http, delete_endpoint)["response"]["@type"].endswith("protobuf.Empty")
    assert http.get(f"/v1/{endpoint_name}").status_code == 404

    assert http.get(f"/v1/{model_name}").json()["versionId"] == "1"
    delete_model = http.delete(f"/v1/{model_name}").json()
    assert delete_model["name"].startswith(f"{PARENT.replace('demo-project', '123456789012')}/operations/")
    _until_done(emu, http, delete_model)
    assert http.get(f"/v1/{model_name.split('@')[0]}").status_code == 404
    assert http.delete(f"/v1/{model_name}").status_code == 404
    # The job itself stays, with its outputs named: a TuningJob has no delete.
    assert http.get(f"/v1/{job['name']}").json()["tunedModel"]["model"] == model_name


def test_undeploying_an_unknown_deployed_model_or_twice_is_not_found(
    emu: Emulator, http: httpx.Client
) -> None:
    job = _succeeded(emu, http)
    endpoint_name = job["tunedModel"]["endpoint"]
    assert http.post(f"/v1/{endpoint_name}:undeployModel", json={"deployedModelId": "1"}).status_code == 404
    deployed = http.get(f"/v1/{endpoint_name}").json()["deployedModels"][0]["id"]
    assert (
        http.post(f"/v1/{endpoint_name}:undeployModel", json={"deployedModelId": deployed}).status_code == 200
    )
    again = http.post(f"/v1/{endpoint_name}:undeployModel", json={"deployedModelId": deployed})
    assert again.status_code == 404 and again.json()["error"]["status"] == "NOT_FOUND"


def test_a_running_job_has_no_endpoint_or_model_yet(emu: Emulator, http: httpx.Client) -> None:
    job = http.post(f"/v1/{PARENT}/tuningJobs", json=job_body()).json()
    emu.advance(100)
    endpoint_id = emu.state.vertex.find(
        "demo-project", "us-central1", job["name"].rsplit("/", 1)[1]
    ).endpoint_id
    assert http.get(f"/v1/{PARENT}/endpoints/{endpoint_id}").status_code == 404
    assert http.get(f"/v1/{PARENT}/operations/123").status_code == 404
