"""Supervised tuning data may be a Vertex AI multimodal dataset instead of a gs:// JSONL file (v1 discovery:
`trainingDatasetUri` and `validationDatasetUri` take either); preference tuning data may not."""

from __future__ import annotations

import httpx
import pytest
from emulator_helpers import PARENT, job_body

from emulator import Emulator

DATASET = "projects/vertexops-test/locations/us-central1/datasets/8912345678901234567"


def test_a_supervised_job_on_a_multimodal_dataset_runs_and_keeps_the_name(
    emu: Emulator, http: httpx.Client
) -> None:
    body = job_body(supervisedTuningSpec={"trainingDatasetUri": DATASET, "validationDatasetUri": DATASET})
    created = http.post(f"/v1/{PARENT}/tuningJobs", json=body)
    assert created.status_code == 200, created.text
    emu.advance(10_000)
    done = http.get(f"/v1/{created.json()['name']}").json()
    assert done["state"] == "JOB_STATE_SUCCEEDED"
    assert done["supervisedTuningSpec"]["trainingDatasetUri"] == DATASET
    assert int(done["tuningDataStats"]["supervisedTuningDataStats"]["tuningDatasetExampleCount"]) > 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            job_body(supervisedTuningSpec={"trainingDatasetUri": "projects/p/datasets/1"}),
            "tuning_job.supervised_tuning_spec.training_dataset_uri",
        ),
        (
            job_body(
                supervisedTuningSpec=None,
                preferenceOptimizationSpec={"trainingDatasetUri": DATASET},
            ),
            "tuning_job.preference_optimization_spec.training_dataset_uri",
        ),
    ],
    ids=["not-a-dataset-name", "dataset-for-preference-tuning"],
)
def test_other_dataset_names_are_refused_naming_the_field(
    http: httpx.Client, body: dict[str, object], field: str
) -> None:
    refused = http.post(f"/v1/{PARENT}/tuningJobs", json=body)
    assert refused.status_code == 400, refused.text
    assert field in str(refused.json()["error"])
