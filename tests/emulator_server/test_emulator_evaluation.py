"""Evaluation during supervised tuning (`supervisedTuningSpec.evaluationConfig`, v1): a succeeded job lists
one `evaluateDatasetRun` per checkpoint, with one aggregated result per metric and aggregation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from emulator_helpers import PARENT, job_body

from emulator import Emulator

EVALUATION = {
    "metrics": [
        {"aggregationMetrics": ["AVERAGE", "STANDARD_DEVIATION"], "bleuSpec": {}},
        {"pointwiseMetricSpec": {"metricPromptTemplate": "Rate the fluency of {response}."}},
    ],
    "outputConfig": {"gcsDestination": {"outputUriPrefix": "gs://demo-bucket/eval/"}},
    "autoraterConfig": {"samplingCount": 2},
}


def _body(evaluation: Any) -> dict[str, object]:
    body = job_body()
    body["supervisedTuningSpec"] = {**body["supervisedTuningSpec"], "evaluationConfig": evaluation}  # type: ignore[dict-item]
    return body


def test_a_job_with_an_evaluation_config_reports_one_run_per_checkpoint(
    emu: Emulator, http: httpx.Client
) -> None:
    created = http.post(f"/v1/{PARENT}/tuningJobs", json=_body(EVALUATION))
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["supervisedTuningSpec"]["evaluationConfig"] == EVALUATION
    assert "evaluateDatasetRuns" not in job  # nothing is evaluated before there are checkpoints
    emu.advance(10_000)
    done = http.get(f"/v1/{job['name']}").json()
    assert done["state"] == "JOB_STATE_SUCCEEDED"
    runs = done["evaluateDatasetRuns"]
    assert [r["checkpointId"] for r in runs] == [c["checkpointId"] for c in done["tunedModel"]["checkpoints"]]
    parent = job["name"].rsplit("/tuningJobs/", 1)[0]
    for run in runs:
        assert run["evaluationRun"].startswith(f"{parent}/evaluationRuns/")
        response = run["evaluateDatasetResponse"]
        assert response["outputInfo"]["gcsOutputDirectory"].startswith("gs://demo-bucket/eval/")
        results = response["aggregationOutput"]["aggregationResults"]
        assert [r["aggregationMetric"] for r in results] == ["AVERAGE", "STANDARD_DEVIATION", "AVERAGE"]
        assert 0 < results[0]["bleuMetricValue"]["score"] <= 1
        assert 0 < results[2]["pointwiseMetricResult"]["score"] <= 1
    # Stable across reads.
    assert http.get(f"/v1/{job['name']}").json()["evaluateDatasetRuns"] == runs


@pytest.mark.parametrize(
    ("evaluation", "field"),
    [
        ({**EVALUATION, "metrics": []}, "tuning_job.supervised_tuning_spec.evaluation_config.metrics"),
        (
            {**EVALUATION, "outputConfig": {"gcsDestination": {"outputUriPrefix": "s3://x/"}}},
            "tuning_job.supervised_tuning_spec.evaluation_config.output_config.gcs_destination.output_uri_prefix",
        ),
    ],
    ids=["no-metrics", "output-not-gcs"],
)
def test_an_invalid_evaluation_config_is_refused_naming_the_field(
    http: httpx.Client, evaluation: dict[str, Any], field: str
) -> None:
    refused = http.post(f"/v1/{PARENT}/tuningJobs", json=_body(evaluation))
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert field in str(error)


def test_preference_tuning_has_no_evaluation_config(http: httpx.Client) -> None:
    body = job_body()
    del body["supervisedTuningSpec"]
    body["preferenceOptimizationSpec"] = {
        "trainingDatasetUri": "gs://demo-bucket/preferences.jsonl",
        "evaluationConfig": EVALUATION,
    }
    refused = http.post(f"/v1/{PARENT}/tuningJobs", json=body)
    assert refused.status_code == 400
    assert 'Unknown name "evaluation_config"' in refused.json()["error"]["message"]
