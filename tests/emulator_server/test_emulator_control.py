"""The `/_emulator/` control API, fault kinds over HTTP, the request log, and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from emulator_helpers import PARENT, job_body

from emulator import Emulator

JOBS = f"/v1/{PARENT}/tuningJobs"
ROOT = Path(__file__).resolve().parents[2]


def test_clock_advances_and_rescales(http: httpx.Client) -> None:
    before = http.get("/_emulator/clock").json()
    after = http.post("/_emulator/clock", json={"advanceSeconds": 3600}).json()
    assert after["nowSeconds"] - before["nowSeconds"] >= 3600
    assert after["now"].endswith("Z")
    assert http.post("/_emulator/clock", json={"timeScale": 60}).json()["timeScale"] == 60
    refused = http.post("/_emulator/clock", json={"advanceSeconds": -5})
    assert refused.status_code == 400 and "forward" in refused.json()["error"]["message"]


def test_config_changes_apply_to_new_jobs(http: httpx.Client, emu: Emulator) -> None:
    assert (
        http.post(
            "/_emulator/config", json={"pendingSeconds": 1, "totalSteps": 2, "stepSeconds": 1}
        ).status_code
        == 200
    )
    job = http.post(JOBS, json=job_body()).json()
    emu.advance(5)
    assert http.get(f"/v1/{job['name']}").json()["state"] == "JOB_STATE_SUCCEEDED"
    assert http.post("/_emulator/config", json={"noSuchSetting": 1}).status_code == 400
    assert "validCredentials" not in http.get("/_emulator/config").json()


def test_faults_over_http(http: httpx.Client) -> None:
    added = http.post(
        "/_emulator/faults", json={"kind": "status", "method": "tuningJobs.list", "status": 503, "times": 2}
    ).json()["faults"][0]
    assert added["id"].startswith("fault-")
    assert [http.get(JOBS).status_code for _ in range(3)] == [503, 503, 200]
    assert http.get("/_emulator/faults").json() == {"faults": []}  # used up
    http.post("/_emulator/faults", json={"kind": "status", "method": "tuningJobs.*", "status": 500})
    assert http.get(JOBS).status_code == 500
    rule_id = http.get("/_emulator/faults").json()["faults"][0]["id"]
    assert http.delete(f"/_emulator/faults/{rule_id}").status_code == 200
    assert http.get(JOBS).status_code == 200
    bad = http.post("/_emulator/faults", json={"kind": "explode"})
    assert bad.status_code == 400 and "fault kind" in bad.json()["error"]["message"]


def test_a_429_carries_retry_after_and_retry_info(http: httpx.Client, emu: Emulator) -> None:
    emu.add_fault("status", "tuningJobs.list", status=429, times=1, retry_after_seconds=4)
    response = http.get(JOBS)
    assert response.status_code == 429 and response.headers["retry-after"] == "4"
    error = response.json()["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "4s"}]


def test_a_dropped_connection_sends_nothing(emu: Emulator) -> None:
    emu.add_fault("drop", "tuningJobs.list", times=1)
    with (
        httpx.Client(base_url=emu.url, headers={"authorization": "Bearer t"}) as http,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        http.get(JOBS)
    assert [r.status for r in emu.requests("tuningJobs.list")] == [None]


def test_probability_faults_fire_sometimes(http: httpx.Client, emu: Emulator) -> None:
    emu.add_fault("status", "tuningJobs.list", status=503, probability=0.5)
    statuses = [http.get(JOBS).status_code for _ in range(40)]
    assert 5 < statuses.count(503) < 35 and 503 in statuses and 200 in statuses


def test_permission_denied_fault_names_the_permission(http: httpx.Client, emu: Emulator) -> None:
    emu.add_fault("permission_denied", "tunedModels.list", times=1)
    error = http.get("/v1beta/tunedModels").json()["error"]
    assert error["code"] == 403
    assert error["message"].startswith("Permission 'generativelanguage.tunedModels.list' denied on resource")
    assert error["details"][0]["reason"] == "IAM_PERMISSION_DENIED"


def test_request_log_over_http(http: httpx.Client, emu: Emulator) -> None:
    http.post(JOBS, json=job_body())
    http.get(JOBS, params={"pageSize": 5})
    http.get("/v1beta/tunedModels", params={"key": "secret-api-key"})
    log = http.get("/_emulator/requests").json()
    assert [r["method"] for r in log["requests"]] == [
        "tuningJobs.create",
        "tuningJobs.list",
        "tunedModels.list",
    ]
    assert log["counts"] == {"tuningJobs.create": 1, "tuningJobs.list": 1, "tunedModels.list": 1}
    assert log["requests"][1]["query"] == "pageSize=5" and log["requests"][1]["status"] == 200
    assert "secret-api-key" not in json.dumps(log)  # the key parameter is not logged
    only = http.get("/_emulator/requests", params={"method": "tuningJobs.list"}).json()["requests"]
    assert len(only) == 1
    assert http.delete("/_emulator/requests").status_code == 200
    assert http.get("/_emulator/requests").json()["requests"] == []


def test_reset_forgets_everything(http: httpx.Client, emu: Emulator) -> None:
    http.post(JOBS, json=job_body())
    emu.add_fault("status", "tuningJobs.get", status=500)
    assert http.get("/_emulator/stats").json()["tuningJobs"] == 1
    http.post("/_emulator/reset")
    assert http.get("/_emulator/stats").json() == {"tuningJobs": 0, "tunedModels": 0, "requests": 0}
    assert emu.state.faults.rules() == []


def test_vertex_requires_a_bearer_token(emu: Emulator) -> None:
    missing = httpx.get(f"{emu.url}{JOBS}")
    assert missing.status_code == 401
    assert missing.json()["error"]["details"][0]["reason"] == "CREDENTIALS_MISSING"
    with_key = httpx.get(f"{emu.url}{JOBS}", headers={"x-goog-api-key": "k"})
    assert with_key.status_code == 401 and "API keys are not supported" in with_key.json()["error"]["message"]


def test_unknown_paths_answer_in_the_error_shape(http: httpx.Client) -> None:
    response = http.get("/v1/projects/p/locations/l/pipelineJobs")
    assert response.status_code == 404 and response.json()["error"]["status"] == "NOT_FOUND"
    assert http.put(JOBS).json()["error"]["status"] == "UNIMPLEMENTED"


def test_the_command_line_prints_its_url_and_serves() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    fault = '{"kind": "status", "method": "tunedModels.list", "status": 503, "times": 1}'
    flags = ["--port", "0", "--no-auth", "--time-scale", "60", "--total-steps", "3", "--fault", fault]
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", *flags], stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert httpx.get(f"{url}/_emulator/healthz").json() == {"ok": True}
        assert httpx.get(f"{url}/_emulator/clock").json()["timeScale"] == 60
        assert httpx.get(f"{url}{JOBS}").status_code == 200  # --no-auth
        assert httpx.get(f"{url}/v1beta/tunedModels").status_code == 503  # the --fault
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_the_command_line_rejects_bad_flags() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--project-number", "nonumber"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and "PROJECT=NUMBER" in result.stderr
