"""v1beta1 `tuningJobState` and `tuningJobMetadata`; the control knob that holds a job waiting for quota."""

from __future__ import annotations

import httpx
import pytest
from emulator_helpers import PARENT, job_body

from emulator import Emulator

INT = {"$alt": "json;enum-encoding=int"}


def _create(http: httpx.Client) -> str:
    created = http.post(f"/v1beta1/{PARENT}/tuningJobs", json=job_body())
    assert created.status_code == 200, created.text
    return str(created.json()["name"])


def test_a_job_shows_where_it_is_in_v1beta1_and_v1_leaves_the_fields_out(
    emu: Emulator, http: httpx.Client
) -> None:
    name = _create(http)
    pending = http.get(f"/v1beta1/{name}").json()
    assert (pending["state"], pending["tuningJobState"]) == (
        "JOB_STATE_PENDING",
        "TUNING_JOB_STATE_PROCESSING_DATASET",
    )
    assert "tuningJobMetadata" not in pending  # nothing completed: the proto3 default is left out
    emu.advance(60 + 10 * 10)  # past PENDING, then 10 of the 20 steps: one of two epochs
    running = http.get(f"/v1beta1/{name}").json()
    assert (running["state"], running["tuningJobState"]) == ("JOB_STATE_RUNNING", "TUNING_JOB_STATE_TUNING")
    assert running["tuningJobMetadata"] == {"completedEpochCount": "1"}
    v1 = http.get(f"/v1/{name}").json()
    assert v1["state"] == "JOB_STATE_RUNNING"
    assert "tuningJobState" not in v1 and "tuningJobMetadata" not in v1
    assert all(
        "tuningJobState" not in job for job in http.get(f"/v1/{PARENT}/tuningJobs").json()["tuningJobs"]
    )
    emu.advance(10_000)
    done = http.get(f"/v1beta1/{name}").json()
    assert done["state"] == "JOB_STATE_SUCCEEDED" and "tuningJobState" not in done
    assert done["tuningJobMetadata"] == {"completedEpochCount": "2"}


def test_a_held_job_waits_for_quota_however_long_then_goes_on_when_released(
    emu: Emulator, http: httpx.Client
) -> None:
    name = _create(http)
    held = httpx.post(f"{emu.url}/_emulator/jobs:hold", json={"name": name}).json()
    assert held["tuningJobState"] == "TUNING_JOB_STATE_WAITING_FOR_QUOTA"
    emu.advance(5 * 24 * 3600)
    job = http.get(f"/v1beta1/{name}").json()
    assert (job["state"], job["tuningJobState"]) == (
        "JOB_STATE_PENDING",
        "TUNING_JOB_STATE_WAITING_FOR_QUOTA",
    )
    assert "startTime" not in job and "tuningDataStats" not in job
    assert http.get(f"/v1beta1/{name}", params=INT).json()["tuningJobState"] == 1  # discovery order
    assert (
        http.get(f"/v1beta1/{PARENT}/tuningJobs").json()["tuningJobs"][0]["tuningJobState"].endswith("QUOTA")
    )

    emu.hold_job(name, "TUNING_JOB_STATE_WAITING_FOR_CAPACITY")
    assert http.get(f"/v1beta1/{name}").json()["tuningJobState"] == "TUNING_JOB_STATE_WAITING_FOR_CAPACITY"
    httpx.post(f"{emu.url}/_emulator/jobs:release", json={"name": name}).raise_for_status()
    assert http.get(f"/v1beta1/{name}").json()["tuningJobState"] == "TUNING_JOB_STATE_PROCESSING_DATASET"
    emu.advance(59)  # the 60 s of PENDING start again at the release
    assert http.get(f"/v1beta1/{name}").json()["state"] == "JOB_STATE_PENDING"
    emu.advance(2)
    assert http.get(f"/v1beta1/{name}").json()["state"] == "JOB_STATE_RUNNING"
    emu.advance(10_000)
    assert http.get(f"/v1beta1/{name}").json()["state"] == "JOB_STATE_SUCCEEDED"


def test_a_held_job_can_be_cancelled(emu: Emulator, http: httpx.Client) -> None:
    name = _create(http)
    emu.hold_job(name)
    assert http.post(f"/v1beta1/{name}:cancel").json() == {}
    assert http.get(f"/v1beta1/{name}").json()["state"] == "JOB_STATE_CANCELLING"
    emu.advance(60)
    job = http.get(f"/v1beta1/{name}").json()
    assert job["state"] == "JOB_STATE_CANCELLED" and "tuningJobState" not in job


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"tuningJobState": "TUNING_JOB_STATE_TUNING"}, 400),  # only the waiting sub-states can be held
        ({}, 400),  # no name
    ],
)
def test_the_hold_knob_refuses_what_it_cannot_do(
    emu: Emulator, http: httpx.Client, body: dict[str, str], status: int
) -> None:
    name = _create(http)
    if body:
        body = {**body, "name": name}
    assert httpx.post(f"{emu.url}/_emulator/jobs:hold", json=body).status_code == status


def test_a_running_job_cannot_be_held(emu: Emulator, http: httpx.Client) -> None:
    name = _create(http)
    emu.advance(100)
    refused = httpx.post(f"{emu.url}/_emulator/jobs:hold", json={"name": name})
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "FAILED_PRECONDITION"
