"""Tuning-job and tuned-model lifecycles, validation and metrics, driven through the REST surface."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_helpers import PARENT, TOKEN, job_body, model_body

from emulator import Emulator, EmulatorConfig

JOBS = f"/v1/{PARENT}/tuningJobs"


def _create(http: httpx.Client, **overrides: object) -> dict[str, Any]:
    response = http.post(JOBS, json=job_body(**overrides))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _get(http: httpx.Client, name: str) -> dict[str, Any]:
    data: dict[str, Any] = http.get(f"/v1/{name}").json()
    return data


def test_pending_running_succeeded(http: httpx.Client, emu: Emulator) -> None:
    job = _create(http)
    assert job["state"] == "JOB_STATE_PENDING" and "startTime" not in job and "experiment" not in job
    emu.advance(59)
    assert _get(http, job["name"])["state"] == "JOB_STATE_PENDING"
    emu.advance(2)
    running = _get(http, job["name"])
    assert running["state"] == "JOB_STATE_RUNNING"
    assert running["experiment"].endswith(
        "/metadataStores/default/contexts/tuning-experiment-" + job["name"][-19:]
    )
    assert running["tuningDataStats"]["supervisedTuningDataStats"]["tuningStepCount"] == "20"
    emu.advance(200)
    done = _get(http, job["name"])
    assert done["state"] == "JOB_STATE_SUCCEEDED"
    assert done["tunedModel"]["model"].endswith("@1")
    assert [c["step"] for c in done["tunedModel"]["checkpoints"]] == ["10", "20"]
    assert done["endTime"] > done["startTime"] > done["createTime"]


def test_export_last_checkpoint_only(http: httpx.Client, emu: Emulator) -> None:
    job = _create(
        http,
        supervisedTuningSpec={"trainingDatasetUri": "gs://b/t.jsonl", "exportLastCheckpointOnly": True},
    )
    emu.advance(10_000)
    assert [c["checkpointId"] for c in _get(http, job["name"])["tunedModel"]["checkpoints"]] == ["3"]


def test_a_job_can_be_made_to_fail_partway(http: httpx.Client, emu: Emulator) -> None:
    emu.fail_jobs(display_name="flaky-*", at_fraction=0.25, message="Tuning failed: out of memory.")
    job = _create(http, tunedModelDisplayName="flaky-bot")
    healthy = _create(http, tunedModelDisplayName="steady-bot")
    emu.advance(60 + 40)  # 4 steps: still running
    assert _get(http, job["name"])["state"] == "JOB_STATE_RUNNING"
    emu.advance(20)
    failed = _get(http, job["name"])
    assert failed["state"] == "JOB_STATE_FAILED"
    assert failed["error"] == {"code": 13, "message": "Tuning failed: out of memory."}
    assert "tunedModel" not in failed
    emu.advance(1000)
    assert _get(http, healthy["name"])["state"] == "JOB_STATE_SUCCEEDED"


def test_an_existing_job_can_be_failed_through_the_control_api(http: httpx.Client, emu: Emulator) -> None:
    job = _create(http)
    emu.advance(60 + 55)
    response = http.post("/_emulator/jobs:fail", json={"name": job["name"], "message": "injected"})
    assert response.status_code == 200
    emu.advance(10)
    failed = _get(http, job["name"])
    assert failed["state"] == "JOB_STATE_FAILED" and failed["error"]["message"] == "injected"


def test_failures_by_probability_are_repeatable_with_a_seed() -> None:
    def outcome(seed: int) -> list[str]:
        config = EmulatorConfig(seed=seed, pending_seconds=0, step_seconds=1, total_steps=2)
        with (
            Emulator(config) as emu,
            httpx.Client(base_url=emu.url, headers={"authorization": "Bearer t"}) as http,
        ):
            emu.state.oauth.issue("t")
            emu.fail_jobs(probability=0.5)
            names = [_create(http)["name"] for _ in range(12)]
            emu.advance(100)
            return [f"{name[-19:]}:{_get(http, name)['state']}" for name in names]

    first, second = outcome(5), outcome(5)
    assert first == second
    states = {entry.split(":")[1] for entry in first}
    assert states == {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED"}
    assert outcome(6) != first


def test_cancel_of_a_pending_job(http: httpx.Client, emu: Emulator) -> None:
    job = _create(http)
    assert http.post(f"/v1/{job['name']}:cancel").json() == {}
    cancelling = _get(http, job["name"])
    assert cancelling["state"] == "JOB_STATE_CANCELLING"
    emu.advance(20)
    cancelled = _get(http, job["name"])
    assert cancelled["state"] == "JOB_STATE_CANCELLED"
    assert cancelled["error"]["code"] == 1
    assert "startTime" not in cancelled and "experiment" not in cancelled


def test_cancel_of_an_ended_job_is_400_failed_precondition(http: httpx.Client, emu: Emulator) -> None:
    job = _create(http)
    emu.advance(10_000)
    response = http.post(f"/v1/{job['name']}:cancel", json={})
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_unknown_job_is_404(http: httpx.Client) -> None:
    response = http.get(f"{JOBS}/1234567890123456789")
    assert response.status_code == 404 and response.json()["error"]["status"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"baseModel": "gemini-9-ultra"}, "not supported"),
        ({"baseModel": None}, "base_model"),
        ({"supervisedTuningSpec": {"trainingDatasetUri": "s3://b/t.jsonl"}}, "gs://"),
        ({"supervisedTuningSpec": {}}, "Training dataset uri is required"),
        (
            {"supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t", "validationDatasetUri": "/tmp/v"}},
            "gs://",
        ),
        ({"labels": {"Team": "x"}}, "Label key 'Team'"),
        ({"labels": {"team": "Has Space"}}, "Label value"),
        (
            {
                "supervisedTuningSpec": {
                    "trainingDatasetUri": "gs://b/t",
                    "hyperParameters": {"adapterSize": "HUGE"},
                }
            },
            "Invalid value",
        ),
        (
            {
                "baseModel": "gemini-1.5-pro-002",
                "supervisedTuningSpec": {
                    "trainingDatasetUri": "gs://b/t",
                    "hyperParameters": {"adapterSize": "ADAPTER_SIZE_EIGHT"},
                },
            },
            "The adapter size is not supported for this base model.",
        ),
        (
            {
                "supervisedTuningSpec": {
                    "trainingDatasetUri": "gs://b/t",
                    "hyperParameters": {"epochCount": "0"},
                }
            },
            "epoch",
        ),
    ],
)
def test_invalid_jobs_get_invalid_argument(
    http: httpx.Client, overrides: dict[str, object], needle: str
) -> None:
    body = job_body(**overrides)
    body = {k: v for k, v in body.items() if v is not None}
    response = http.post(JOBS, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT"
    assert needle in error["message"]


def test_snake_case_requests_are_accepted(http: httpx.Client) -> None:
    body = {
        "base_model": "gemini-2.0-flash-001",
        "supervised_tuning_spec": {
            "training_dataset_uri": "gs://b/t.jsonl",
            "hyper_parameters": {"epoch_count": 4},
        },
        "labels": {"snake_key": "v"},
    }
    job = http.post(JOBS, json=body).json()
    assert job["baseModel"] == "gemini-2.0-flash-001"
    assert job["supervisedTuningSpec"]["hyperParameters"]["epochCount"] == "4"
    assert job["labels"] == {"snake_key": "v"}


def test_list_filters_and_pages(http: httpx.Client) -> None:
    names = [_create(http, labels={"team": "a" if i % 2 else "b"})["name"] for i in range(6)]
    seen: list[str] = []
    token = None
    while True:
        params = {"pageSize": 2, "filter": 'labels.team="a"'} | ({"pageToken": token} if token else {})
        page = http.get(JOBS, params=params).json()
        seen += [job["name"] for job in page.get("tuningJobs", [])]
        token = page.get("nextPageToken")
        if not token:
            break
    assert seen == [names[5], names[3], names[1]]  # newest first
    assert http.get(JOBS, params={"filter": "labels.team:*"}).json()["tuningJobs"][0]["name"] == names[5]
    assert http.get(JOBS, params={"filter": 'state!="JOB_STATE_PENDING"'}).json() == {}
    bad = http.get(JOBS, params={"filter": 'display_name="x" OR labels.a="b"'})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert http.get(JOBS, params={"pageToken": "garbage"}).status_code == 400


def test_metrics_grow_step_by_step(http: httpx.Client, emu: Emulator) -> None:
    job = _create(http)
    emu.advance(60 + 100)  # 10 steps
    running = _get(http, job["name"])
    experiment = running["experiment"]
    tensorboard = http.get(f"/v1/{experiment}").json()["metadata"]["backing_tensorboard_resource"]
    store = experiment.rsplit("/contexts/", 1)[0]
    runs = http.get(
        f"/v1/{store}/contexts",
        params={"filter": f'schema_title="system.ExperimentRun" AND parent_contexts:"{experiment}"'},
    ).json()["contexts"]
    experiment_id = experiment.rsplit("/", 1)[1]
    run_id = runs[0]["name"].rsplit("/", 1)[1].removeprefix(experiment_id + "-")
    series = http.get(f"/v1/{tensorboard}/experiments/{experiment_id}/runs/{run_id}/timeSeries").json()
    by_name = {s["displayName"]: s["name"] for s in series["tensorboardTimeSeries"]}
    assert set(by_name) >= {"/train_total_loss", "/eval_total_loss"}
    loss = http.get(f"/v1/{by_name['/train_total_loss']}:read", params={"maxDataPoints": -1}).json()
    values = loss["timeSeriesData"]["values"]
    assert [v["step"] for v in values] == [str(s) for s in range(1, 11)]
    assert 2.0 < values[0]["scalar"]["value"] < 2.6  # starts near 2.5 and falls from there
    emu.advance(100)
    later = http.get(
        f"/v1/{tensorboard}:batchRead", params={"timeSeries": [by_name["/train_total_loss"]]}
    ).json()
    points = later["timeSeriesData"][0]["values"]
    assert len(points) == 20
    assert points[-1]["scalar"]["value"] < points[0]["scalar"]["value"] - 1.0
    runs_list = http.get(f"/v1/{tensorboard}/experiments/{experiment_id}/runs").json()
    assert runs_list["tensorboardRuns"][0]["name"].endswith(f"/runs/{run_id}")


def test_gemini_model_lifecycle_through_rest(http: httpx.Client, emu: Emulator) -> None:
    created = http.post("/v1beta/tunedModels", params={"tunedModelId": "counter"}, json=model_body()).json()
    assert "done" not in created
    assert created["metadata"]["totalSteps"] == 8
    assert http.get("/v1beta/tunedModels/counter").json()["state"] == "CREATING"
    emu.advance(20)
    operation = http.get(f"/v1beta/{created['name']}").json()
    assert operation["metadata"]["completedSteps"] == 4 and "done" not in operation
    emu.advance(40)
    operation = http.get(f"/v1beta/{created['name']}").json()
    assert operation["done"] is True
    assert operation["response"]["@type"].endswith("google.ai.generativelanguage.v1beta.TunedModel")
    assert operation["response"]["state"] == "ACTIVE"
    operations = http.get("/v1beta/tunedModels/counter/operations").json()["operations"]
    assert [o["name"] for o in operations] == [created["name"]]
    duplicate = http.post("/v1beta/tunedModels", params={"tunedModelId": "counter"}, json=model_body())
    assert duplicate.status_code == 409 and duplicate.json()["error"]["status"] == "ALREADY_EXISTS"


def test_gemini_streaming_without_sse_is_a_json_array(http: httpx.Client, emu: Emulator) -> None:
    http.post("/v1beta/tunedModels", params={"tunedModelId": "arr"}, json=model_body())
    emu.advance(1000)
    body = {"contents": [{"parts": [{"text": "a b c d e f g"}]}]}
    array = http.post("/v1beta/tunedModels/arr:streamGenerateContent", json=body).json()
    assert isinstance(array, list) and len(array) == 3
    sse = http.post("/v1beta/tunedModels/arr:streamGenerateContent", params={"alt": "sse"}, json=body)
    assert sse.headers["content-type"] == "text/event-stream"
    assert sse.text.count("data: ") == 3


def test_thousands_of_jobs_stay_cheap(http: httpx.Client, emu: Emulator) -> None:
    # Creating through the store directly keeps this fast; listing then goes through HTTP.
    for index in range(2000):
        emu.state.vertex.create("demo-project", "us-central1", job_body(labels={"n": str(index)}))
    page = http.get(JOBS, params={"pageSize": 1000, "filter": 'labels.n="1999"'}).json()
    assert [job["labels"]["n"] for job in page["tuningJobs"]] == ["1999"]
    emu.advance(10_000)
    states = http.get(JOBS, params={"pageSize": 1000, "filter": 'state="JOB_STATE_SUCCEEDED"'}).json()
    assert len(states["tuningJobs"]) == 1000 and states["nextPageToken"]


def test_wall_clock_timestamps_follow_the_real_clock_and_never_move() -> None:
    """At 3600x, half a real second is half a simulated hour: a job created then is stamped half an hour
    ahead of the client's clock with simulated times, and at the client's own time with wall-clock ones, so
    a client measuring job ages against its clock scales them as it scales its intervals. A timestamp, once
    written, reads the same on every later call (a changing one would rewrite status at every poll)."""
    import time
    from datetime import datetime

    from emulator.clock import rfc3339

    def stamps(wall: bool) -> tuple[float, str, str]:
        config = EmulatorConfig(
            time_scale=3600, pending_seconds=0, total_steps=10_000, wall_clock_timestamps=wall
        )
        with (
            Emulator(config) as emu,
            httpx.Client(
                base_url=emu.url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30
            ) as client,
        ):
            emu.state.oauth.issue(TOKEN)
            time.sleep(0.5)
            job = client.post(JOBS, json=job_body()).json()
            ahead = datetime.fromisoformat(job["createTime"]).timestamp() - time.time()
            first = _get(client, job["name"])["startTime"]
            time.sleep(0.2)
            return ahead, first, _get(client, job["name"])["startTime"]

    # Bounds, not times: simulated stamps run at least 0.5 s x 3600 ahead however slow the machine is;
    # wall-clock ones are within a few real seconds of the client's clock.
    ahead, first, again = stamps(wall=True)
    assert abs(ahead) < 5 and first == again
    ahead, first, again = stamps(wall=False)
    assert ahead >= 1800 - 60 and first == again
    # Stopping the emulator that set it restores simulated timestamps for everything else in the process.
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
