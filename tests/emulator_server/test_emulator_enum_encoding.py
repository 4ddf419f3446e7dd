"""`$alt=json;enum-encoding=int`: enums travel as integers, in requests and answers, as the REST transport of
Google's generated clients (google-cloud-aiplatform) sends and expects them; names work without it."""

from __future__ import annotations

import json

import httpx
from emulator_helpers import LOCATION, NUMBER, PARENT, job_body

from emulator import Emulator

INT = {"$alt": "json;enum-encoding=int"}


def _int_body() -> dict[str, object]:
    body = job_body()
    body["supervisedTuningSpec"] = {
        "trainingDatasetUri": "gs://demo-bucket/train.jsonl",
        "hyperParameters": {"epochCount": 2, "adapterSize": 6},  # ADAPTER_SIZE_TWO is 6 in the proto
    }
    return body


def test_an_integer_enum_in_the_request_is_read_as_its_name(http: httpx.Client) -> None:
    created = http.post(f"/v1beta1/{PARENT}/tuningJobs", json=_int_body())
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["state"] == "JOB_STATE_PENDING"  # no $alt: names, as proto3 JSON writes them
    assert job["supervisedTuningSpec"]["hyperParameters"]["adapterSize"] == "ADAPTER_SIZE_TWO"


def test_with_int_encoding_the_answer_writes_every_enum_as_its_number(
    emu: Emulator, http: httpx.Client
) -> None:
    job = http.post(f"/v1beta1/{PARENT}/tuningJobs", params=INT, json=_int_body()).json()
    assert job["state"] == 2  # JOB_STATE_PENDING
    assert job["supervisedTuningSpec"]["hyperParameters"]["adapterSize"] == 6
    assert job["labels"] == {"vertexops-dev-uid": "6f1c2a"}  # user data is never touched
    emu.advance(10_000)
    done = http.get(f"/v1beta1/{job['name']}", params=INT).json()
    assert done["state"] == 4  # JOB_STATE_SUCCEEDED
    assert "JOB_STATE" not in json.dumps(http.get(f"/v1beta1/{PARENT}/tuningJobs", params=INT).json())
    answer = http.post(
        f"/v1/{done['tunedModel']['endpoint']}:generateContent",
        params=INT,
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    ).json()
    assert answer["candidates"][0]["finishReason"] == 1  # STOP
    assert answer["usageMetadata"]["trafficType"] == 1  # ON_DEMAND
    streamed = http.post(
        f"/v1/{done['tunedModel']['endpoint']}:streamGenerateContent",
        params=INT,
        json={"contents": [{"role": "user", "parts": [{"text": "hi there"}]}]},
    ).json()
    assert streamed[-1]["candidates"][0]["finishReason"] == 1


def test_errors_keep_their_status_name_and_other_alt_values_keep_names(http: httpx.Client) -> None:
    missing = http.get(f"/v1beta1/projects/{NUMBER}/locations/{LOCATION}/tuningJobs/1", params=INT)
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == "NOT_FOUND" and missing.json()["error"]["code"] == 404
    job = http.post(f"/v1/{PARENT}/tuningJobs", params={"$alt": "json"}, json=job_body()).json()
    assert job["state"] == "JOB_STATE_PENDING"


def test_an_integer_no_enum_value_has_is_refused_like_an_unknown_name(http: httpx.Client) -> None:
    body = _int_body()
    body["supervisedTuningSpec"] = {
        "trainingDatasetUri": "gs://b/t.jsonl",
        "hyperParameters": {"adapterSize": 42},
    }
    refused = http.post(f"/v1beta1/{PARENT}/tuningJobs", params=INT, json=body)
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "adapter_size" in refused.json()["error"]["message"]
