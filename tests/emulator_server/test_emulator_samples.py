"""The emulator's responses have the shape of the recorded samples: keys, JSON types and formats."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from emulator_helpers import LOCATION, PARENT, PROJECT, job_body, model_body

from emulator import Emulator

SAMPLES = Path(__file__).parent / "samples"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
INT64 = re.compile(r"^-?\d+$")
ENUM = re.compile(r"^[A-Z][A-Z0-9_]*$")
ENUM_KEYS = {"state", "finishReason", "valueType", "status", "adapterSize", "trafficType", "reason"}


def shape_differences(sample: Any, actual: Any, path: str = "$") -> list[str]:
    """Where `actual` differs from `sample` in keys, JSON types or string formats (values may differ)."""
    if isinstance(sample, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        problems = [f"{path}.{key}: missing" for key in sample.keys() - actual.keys()]
        problems += [f"{path}.{key}: not in the sample" for key in actual.keys() - sample.keys()]
        for key in sample.keys() & actual.keys():
            problems += shape_differences(sample[key], actual[key], f"{path}.{key}")
        return problems
    if isinstance(sample, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {type(actual).__name__}"]
        if not actual:
            return [f"{path}: empty, the sample has items"] if sample else []
        problems = []
        for index, item in enumerate(actual):
            # An item must match one of the sample's items (a list may hold optional-field variants).
            candidates = [shape_differences(s, item, f"{path}[{index}]") for s in sample]
            best = min(candidates, key=len)
            problems += best
        return problems
    if type(sample) is not type(actual):
        return [f"{path}: expected {type(sample).__name__}, got {type(actual).__name__} ({actual!r})"]
    if isinstance(sample, str):
        key = path.rsplit(".", 1)[-1]
        for pattern, label in ((RFC3339, "an RFC 3339 UTC time"), (INT64, "an int64 string")):
            if pattern.match(sample) and not pattern.match(actual):
                return [f"{path}: expected {label}, got {actual!r}"]
        if key in ENUM_KEYS and ENUM.match(sample) and not ENUM.match(actual):
            return [f"{path}: expected an enum name, got {actual!r}"]
    return []


def test_the_comparison_catches_differences() -> None:
    sample = {"a": "1", "b": [{"t": "2025-01-01T00:00:00Z"}], "c": 1.5}
    assert shape_differences(sample, {"a": "7", "b": [{"t": "2026-02-03T04:05:06.789Z"}], "c": 2.0}) == []
    assert shape_differences(sample, {"a": 7, "b": [{"t": "2026-02-03T04:05:06.789Z"}], "c": 2.0}) != []
    assert sorted(shape_differences(sample, {"a": "x", "b": [{"t": "yesterday"}], "c": 2.0, "d": 1})) == [
        "$.a: expected an int64 string, got 'x'",
        "$.b[0].t: expected an RFC 3339 UTC time, got 'yesterday'",
        "$.d: not in the sample",
    ]
    assert shape_differences({"state": "JOB_STATE_RUNNING"}, {"state": "running"}) == [
        "$.state: expected an enum name, got 'running'"
    ]


def _load(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def _jobs(http: httpx.Client) -> str:
    return f"/v1/{PARENT}/tuningJobs"


def _succeeded_job(http: httpx.Client, emu: Emulator) -> dict[str, Any]:
    job = http.post(_jobs(http), json=job_body()).json()
    emu.advance(10_000)
    result: dict[str, Any] = http.get(f"/v1/{job['name']}").json()
    return result


def actual_vertex_tuning_job_succeeded(http: httpx.Client, emu: Emulator) -> Any:
    return _succeeded_job(http, emu)


def actual_vertex_tuning_job_cancelled(http: httpx.Client, emu: Emulator) -> Any:
    body = job_body(supervisedTuningSpec={"trainingDatasetUri": "gs://demo-bucket/train.jsonl"})
    del body["labels"]
    job = http.post(_jobs(http), json=body).json()
    assert http.post(f"/v1/{job['name']}:cancel", json={}).json() == {}
    emu.advance(30)
    return http.get(f"/v1/{job['name']}").json()


def actual_vertex_tuning_jobs_list(http: httpx.Client, emu: Emulator) -> Any:
    body = job_body(
        supervisedTuningSpec={"trainingDatasetUri": "gs://demo-bucket/train.jsonl"}, labels={"team": "search"}
    )
    for _ in range(3):
        http.post(_jobs(http), json=body)
    return http.get(_jobs(http), params={"pageSize": 2}).json()


def actual_vertex_error_adapter_size(http: httpx.Client, emu: Emulator) -> Any:
    body = job_body(
        baseModel="gemini-1.5-pro-002",
        supervisedTuningSpec={
            "trainingDatasetUri": "gs://b/t.jsonl",
            "hyperParameters": {"adapterSize": "ADAPTER_SIZE_SIXTEEN"},
        },
    )
    response = http.post(_jobs(http), json=body)
    assert response.status_code == 400
    return response.json()


def actual_vertex_error_permission_denied(http: httpx.Client, emu: Emulator) -> Any:
    emu.add_fault("permission_denied", "tuningJobs.create", times=1)
    response = http.post(_jobs(http), json=job_body())
    assert response.status_code == 403
    return response.json()


def actual_vertex_error_rate_limited(http: httpx.Client, emu: Emulator) -> Any:
    emu.add_fault("status", "tuningJobs.list", status=429, times=1, retry_after_seconds=2)
    response = http.get(_jobs(http))
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    return response.json()


def _experiment(http: httpx.Client, emu: Emulator) -> str:
    experiment: str = _succeeded_job(http, emu)["experiment"]
    return experiment


def actual_vertex_experiment_context(http: httpx.Client, emu: Emulator) -> Any:
    return http.get(f"/v1/{_experiment(http, emu)}").json()


def _runs(http: httpx.Client, experiment: str) -> Any:
    store = experiment.rsplit("/contexts/", 1)[0]
    params = {"filter": f'schema_title="system.ExperimentRun" AND parent_contexts:"{experiment}"'}
    return http.get(f"/v1/{store}/contexts", params=params).json()


def actual_vertex_run_contexts_list(http: httpx.Client, emu: Emulator) -> Any:
    return _runs(http, _experiment(http, emu))


def _series(http: httpx.Client, emu: Emulator) -> tuple[str, Any]:
    experiment = _experiment(http, emu)
    tensorboard = http.get(f"/v1/{experiment}").json()["metadata"]["backing_tensorboard_resource"]
    run_id = (
        _runs(http, experiment)["contexts"][0]["name"]
        .rsplit("/", 1)[1]
        .removeprefix(experiment.rsplit("/", 1)[1] + "-")
    )
    run = f"{tensorboard}/experiments/{experiment.rsplit('/', 1)[1]}/runs/{run_id}"
    return tensorboard, http.get(f"/v1/{run}/timeSeries").json()


def actual_vertex_time_series_list(http: httpx.Client, emu: Emulator) -> Any:
    return _series(http, emu)[1]


def actual_vertex_batch_read(http: httpx.Client, emu: Emulator) -> Any:
    tensorboard, series = _series(http, emu)
    names = [s["name"] for s in series["tensorboardTimeSeries"][:2]]
    return http.get(f"/v1/{tensorboard}:batchRead", params={"timeSeries": names}).json()


def actual_vertex_generate_content(http: httpx.Client, emu: Emulator) -> Any:
    endpoint = _succeeded_job(http, emu)["tunedModel"]["endpoint"]
    body = {"contents": [{"role": "user", "parts": [{"text": "What is the capital of France?"}]}]}
    return http.post(f"/v1/{endpoint}:generateContent", json=body).json()


def actual_gemini_create_operation(http: httpx.Client, emu: Emulator) -> Any:
    return http.post(
        "/v1beta/tunedModels", params={"tunedModelId": "number-generator"}, json=model_body()
    ).json()


def actual_gemini_operation_done(http: httpx.Client, emu: Emulator) -> Any:
    operation = actual_gemini_create_operation(http, emu)
    emu.advance(1000)
    return http.get(f"/v1beta/{operation['name']}").json()


def actual_gemini_tuned_models_list(http: httpx.Client, emu: Emulator) -> Any:
    for _ in range(2):
        http.post("/v1beta/tunedModels", json=model_body())
    return http.get("/v1beta/tunedModels", params={"pageSize": 1}).json()


def actual_gemini_generate_content(http: httpx.Client, emu: Emulator) -> Any:
    actual_gemini_operation_done(http, emu)
    body = {"contents": [{"parts": [{"text": "5"}]}]}
    return http.post("/v1beta/tunedModels/number-generator:generateContent", json=body).json()


def actual_gemini_error_no_credentials(http: httpx.Client, emu: Emulator) -> Any:
    response = httpx.get(f"{emu.url}/v1beta/tunedModels")
    assert response.status_code == 403
    return response.json()


def actual_gemini_error_api_key_invalid(http: httpx.Client, emu: Emulator) -> Any:
    emu.config.valid_credentials = ["the-right-key"]
    response = httpx.get(f"{emu.url}/v1beta/tunedModels", headers={"x-goog-api-key": "a-wrong-key"})
    assert response.status_code == 400
    return response.json()


SAMPLE_NAMES = sorted(p.stem for p in SAMPLES.glob("*.json"))


def test_every_sample_has_a_producer() -> None:
    assert SAMPLE_NAMES, "no samples found"
    missing = [name for name in SAMPLE_NAMES if f"actual_{name}" not in globals()]
    assert missing == []


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_response_matches_the_recorded_sample(name: str, http: httpx.Client, emu: Emulator) -> None:
    actual = globals()[f"actual_{name}"](http, emu)
    assert shape_differences(_load(f"{name}.json"), actual) == []


def test_project_ids_become_numbers_in_names(http: httpx.Client) -> None:
    job = http.post(_jobs(http), json=job_body()).json()
    assert job["name"].startswith(f"projects/123456789012/locations/{LOCATION}/tuningJobs/")
    assert PROJECT not in job["name"]
