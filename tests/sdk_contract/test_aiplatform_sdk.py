"""google-cloud-aiplatform (`vertexai.tuning.sft`, `GenerativeModel`, the v1 GAPIC client), unmodified, with
`api_endpoint` at the emulator and `api_transport="rest"`: tune, poll until done, list, cancel, prompt.

The SDK cannot share .venv with our kubernetes client (see aiplatform-requirements.txt), so it runs in its
own pinned venv (tools/sdk-venv.sh) as a subprocess, aiplatform_driver.py, against the emulator served
here; the driver prints what the SDK returned. Its REST transport sends `$alt=json;enum-encoding=int`, so
this also shows enums travelling as integers both ways, and google-api-core's self-signed JWT (no token
grant) being accepted.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import LOCATION, NUMBER, PROJECT, emulator_config

from controller.testenv.google_credentials import AdcCredentials, service_account_key_file
from emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("aiplatform_driver.py")


@pytest.fixture(scope="session")
def sdk_python() -> str:
    """The aiplatform venv's Python, made on first use (cached outside the repository, keyed by the pins)."""
    done = subprocess.run(
        ["bash", str(ROOT / "tools/sdk-venv.sh")], capture_output=True, text=True, timeout=1200, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class SdkRun:
    observed: dict[str, Any]
    emu: Emulator
    adc: AdcCredentials


@pytest.fixture(scope="module")
def run(sdk_python: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkRun]:
    """One run of the driver (it takes a while), read by both tests below."""
    with Emulator(emulator_config()) as emu:
        adc = service_account_key_file(emu.url, tmp_path_factory.mktemp("adc"), project=PROJECT)
        done = subprocess.run(
            [sdk_python, str(DRIVER), emu.url, str(adc.path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            # Nothing of this process's environment (ADC, proxies, project) reaches the SDK.
            env={"PATH": "/usr/bin:/bin", "NO_GCE_CHECK": "True", "GCE_METADATA_HOST": "127.0.0.1:9"},
        )
        assert done.returncode == 0, done.stderr[-4000:]
        yield SdkRun(json.loads(done.stdout.strip().splitlines()[-1]), emu, adc)


def test_the_sdk_tunes_polls_lists_cancels_and_prompts_through_the_emulator(run: SdkRun) -> None:
    observed, emu = run.observed, run.emu
    assert observed["refusedHosts"] == []  # nothing but the emulator was looked up
    created = observed["created"]
    assert created["name"].startswith(f"projects/{NUMBER}/locations/{LOCATION}/tuningJobs/")
    assert created["state"] == "JOB_STATE_PENDING"
    assert observed["states"][0] == "JOB_STATE_PENDING" and observed["states"][-1] == "JOB_STATE_SUCCEEDED"
    assert "JOB_STATE_RUNNING" in observed["states"]
    # adapter_size=4 is ADAPTER_SIZE_FOUR, whose proto number 2 travels both ways as an integer
    assert observed["hyperParameters"] == {
        "epochCount": 2,
        "adapterSize": "ADAPTER_SIZE_FOUR",
        "learningRateMultiplier": 0.5,
    }
    assert observed["tunedModel"]["model"].endswith("@1")
    endpoint = observed["tunedModel"]["endpoint"]
    assert endpoint.startswith(f"projects/{NUMBER}/locations/{LOCATION}/endpoints/")
    assert [c["epoch"] for c in observed["checkpoints"]] == [1, 2]
    assert observed["stepCount"] == 20

    assert len(observed["listed"]) == 2 and created["name"] in observed["listed"]
    assert observed["cancelStates"][0] == "JOB_STATE_CANCELLING"
    assert observed["cancelStates"][-1] == "JOB_STATE_CANCELLED"
    assert observed["cancelError"]["code"] == 1  # google.rpc.Code CANCELLED inside the resource
    assert observed["secondCancel"]["type"] == "BadRequest" and observed["secondCancel"]["code"] == 400

    assert observed["answer"]["text"].startswith("[support-bot]")
    assert observed["answer"]["finishReason"] == "STOP" and observed["answer"]["totalTokens"] > 0
    (prompt,) = emu.state.generations.records("endpoints.generateContent")
    assert prompt.model == endpoint
    assert prompt.contents[0]["parts"] == [{"text": "Where is my parcel?"}]

    assert observed["v1Get"] == {"state": "JOB_STATE_SUCCEEDED", "endpoint": endpoint}
    assert sorted(observed["v1List"]) == sorted(observed["listed"])  # one job a page, both pages read
    assert observed["v1Missing"] == {"type": "NotFound", "code": 404}


def test_the_sdk_removes_the_endpoint_and_model_in_the_order_vertex_requires(run: SdkRun) -> None:
    cleanup, tuned = run.observed["cleanup"], run.observed["tunedModel"]
    # still deployed: 400 FAILED_PRECONDITION, which google-api-core maps by HTTP status to BadRequest
    assert cleanup["deleteDeployed"] == {"type": "BadRequest", "code": 400}
    assert [r.status for r in run.emu.requests("models.delete")] == [400, 200]
    assert [d["model"] for d in cleanup["deployedModels"]] == [tuned["model"].split("@")[0]]
    # The LRO futures polled operations.get and unpacked the emulator's Any metadata and response.
    assert cleanup["undeployResult"] == "UndeployModelResponse"
    assert cleanup["undeployMetadata"] == "UndeployModelOperationMetadata"
    assert cleanup["endpointDeleted"] is True and cleanup["modelDeleted"] is True
    assert cleanup["modelAfter"] == "NotFound"
    assert run.emu.count("operations.get") >= 3


def test_every_call_of_the_sdk_asked_for_integer_enums_and_carried_the_accounts_jwt(run: SdkRun) -> None:
    emu, adc = run.emu, run.adc
    calls = [r for r in emu.requests() if r.api == "vertex"]
    methods = {r.method for r in calls}
    assert {"tuningJobs.create", "tuningJobs.get", "tuningJobs.list", "tuningJobs.cancel"} <= methods
    assert {
        "endpoints.generateContent",
        "endpoints.undeployModel",
        "endpoints.delete",
        "models.delete",
    } <= methods
    # google-api-core's operations client polls without it; every generated-client call sends it.
    assert all("$alt=json;enum-encoding=int" in r.query for r in calls if r.method != "operations.get")
    assert any(r.path.startswith("/ui/") for r in emu.requests("operations.get"))
    assert {r.principal for r in calls} == {adc.principal}
    assert all(r.credentials == ("bearer-header",) for r in calls)
    v1_lists = [r for r in emu.requests("tuningJobs.list") if r.path.startswith("/v1/")]
    assert len(v1_lists) == 2 and "pageSize=1" in v1_lists[0].query and "pageToken=" in v1_lists[1].query
    assert {r.path.split("/")[3] for r in emu.requests("tuningJobs.create")} == {PROJECT}
