"""Preference tuning (`preferenceOptimizationSpec`, one-of `tuning_spec` beside supervised tuning) and the
examples Vertex drops or truncates, as the statistics of a job report them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_helpers import PARENT, job_body

from emulator import Emulator


def _preference_body(**hyper: Any) -> dict[str, object]:
    body = job_body()
    del body["supervisedTuningSpec"]
    body["preferenceOptimizationSpec"] = {
        "trainingDatasetUri": "gs://demo-bucket/preferences.jsonl",
        "validationDatasetUri": "gs://demo-bucket/preferences-validation.jsonl",
        "hyperParameters": {"epochCount": "2", "adapterSize": "ADAPTER_SIZE_FOUR", "beta": 0.1, **hyper},
        "exportLastCheckpointOnly": True,
    }
    return body


def test_a_preference_tuning_job_runs_to_success_with_its_own_statistics(
    emu: Emulator, http: httpx.Client
) -> None:
    created = http.post(f"/v1/{PARENT}/tuningJobs", json=_preference_body())
    assert created.status_code == 200, created.text
    job = created.json()
    assert "supervisedTuningSpec" not in job
    spec = job["preferenceOptimizationSpec"]
    assert spec["hyperParameters"]["beta"] == 0.1 and spec["hyperParameters"]["epochCount"] == "2"
    emu.advance(10_000)
    done = http.get(f"/v1/{job['name']}").json()
    assert done["state"] == "JOB_STATE_SUCCEEDED"
    stats = done["tuningDataStats"]
    assert set(stats) == {"preferenceOptimizationDataStats"}
    preference = stats["preferenceOptimizationDataStats"]
    assert preference["tuningStepCount"] == "20"  # int64 as a JSON string
    assert int(preference["tuningDatasetExampleCount"]) > 0 and int(preference["totalBillableTokenCount"]) > 0
    assert isinstance(preference["scoresDistribution"]["sum"], float)  # DatasetDistribution.sum is a double
    assert "droppedExampleIndices" not in preference
    # exportLastCheckpointOnly: only the last checkpoint, which is the tuned model's endpoint
    assert [c["epoch"] for c in done["tunedModel"]["checkpoints"]] == ["2"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {**job_body(), **{k: v for k, v in _preference_body().items() if k != "supervisedTuningSpec"}},
            "tuning_job.preference_optimization_spec",
        ),
        (_preference_body(beta=-1), "tuning_job.preference_optimization_spec.hyper_parameters.beta"),
        (
            _preference_body(adapterSize="ADAPTER_SIZE_NINE"),
            "tuning_job.preference_optimization_spec.hyper_parameters.adapter_size",
        ),
        (
            job_body(
                supervisedTuningSpec={
                    "trainingDatasetUri": "gs://b/t.jsonl",
                    "hyperParameters": {"beta": 0.1},
                }
            ),
            "tuning_job.supervised_tuning_spec.hyper_parameters",
        ),
    ],
    ids=["two-tuning-specs", "negative-beta", "unknown-adapter-size", "beta-on-supervised"],
)
def test_invalid_preference_jobs_are_refused_naming_the_field(
    http: httpx.Client, body: dict[str, object], field: str
) -> None:
    refused = http.post(f"/v1/{PARENT}/tuningJobs", json=body)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["fieldViolations"][0]["field"] == field


def test_dropped_examples_are_counted_and_sampled_with_their_reason(
    emu: Emulator, http: httpx.Client
) -> None:
    emu.drop_examples(25, display_name="support-bot")
    httpx.post(
        f"{emu.url}/_emulator/dropped-examples",
        json={"count": 3, "reason": "Image is invalid.", "displayName": "prefs"},
    ).raise_for_status()
    supervised = http.post(f"/v1/{PARENT}/tuningJobs", json=job_body()).json()
    preference = http.post(
        f"/v1/{PARENT}/tuningJobs", json={**_preference_body(), "tunedModelDisplayName": "prefs"}
    ).json()
    clean = http.post(f"/v1/{PARENT}/tuningJobs", json=job_body(tunedModelDisplayName="clean")).json()
    emu.advance(100)  # running: the statistics are known

    stats = http.get(f"/v1/{supervised['name']}").json()["tuningDataStats"]["supervisedTuningDataStats"]
    assert stats["totalTruncatedExampleCount"] == "25"
    assert len(stats["truncatedExampleIndices"]) == 10  # "a partial sample"
    assert all(isinstance(i, str) and int(i) >= 1 for i in stats["truncatedExampleIndices"])  # 1-based int64
    assert (
        stats["droppedExampleReasons"]
        == ["Example exceeds the maximum of 131072 input and output tokens."] * 10
    )

    prefs = http.get(f"/v1/{preference['name']}").json()["tuningDataStats"]["preferenceOptimizationDataStats"]
    assert (
        len(prefs["droppedExampleIndices"]) == 3
        and prefs["droppedExampleReasons"] == ["Image is invalid."] * 3
    )
    assert "totalTruncatedExampleCount" not in prefs  # no such field in PreferenceOptimizationDataStats

    untouched = http.get(f"/v1/{clean['name']}").json()["tuningDataStats"]["supervisedTuningDataStats"]
    assert "totalTruncatedExampleCount" not in untouched and "droppedExampleReasons" not in untouched
    assert httpx.post(f"{emu.url}/_emulator/dropped-examples", json={"count": 0}).status_code == 400
