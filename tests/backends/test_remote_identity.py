"""The identity of a remote job comes from what Git holds, and only adoptable jobs stand for a resource."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from controller.api.tuningjob import TuningJobSpec
from controller.backends.remote_identity import (
    choose_by_identity,
    choose_by_uid,
    identity_of,
    import_differences,
)
from controller.google.models_vertex import TuningJob


def _spec(**overrides: Any) -> TuningJobSpec:
    body: dict[str, Any] = {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://bkt/train.jsonl",
            "hyperParameters": {"epochCount": 3, "learningRateMultiplier": 1.0},
        },
        "labels": {"team": "support"},
    }
    body.update(overrides)
    return TuningJobSpec.model_validate(body)


def _identity(spec: TuningJobSpec, name: str = "bot", namespace: str = "ml", fleet: str = "") -> str:
    return identity_of(namespace, name, spec, project="p", location="us-central1", fleet=fleet)


def test_the_same_manifest_has_the_same_identity_in_every_cluster_and_it_fits_a_label() -> None:
    first, second = _identity(_spec()), _identity(_spec())
    assert first == second
    assert re.fullmatch(r"[0-9a-f]{32}", first)  # a valid Vertex label value (<= 63, lowercase)


def test_numbers_written_differently_hash_alike() -> None:
    written_as_int = _spec(
        supervisedTuningSpec={
            "trainingDatasetUri": "gs://bkt/train.jsonl",
            "hyperParameters": {"epochCount": 3, "learningRateMultiplier": 1},
        }
    )
    assert _identity(written_as_int) == _identity(_spec())


@pytest.mark.parametrize(
    "change",
    [
        {"testPrompts": [{"prompt": "hi"}]},
        {"publish": {"configMapName": "out"}},
        {"deletionPolicy": "Orphan"},
        {"adoptionPolicy": "Never"},
    ],
)
def test_fields_that_do_not_shape_the_job_leave_the_identity_alone(change: dict[str, Any]) -> None:
    assert _identity(_spec(**change)) == _identity(_spec())


@pytest.mark.parametrize(
    "change",
    [
        {"baseModel": "gemini-2.5-pro"},
        {
            "supervisedTuningSpec": {
                "trainingDatasetUri": "gs://bkt/train-v2.jsonl",
                "hyperParameters": {"epochCount": 3, "learningRateMultiplier": 1.0},
            }
        },
        {
            "supervisedTuningSpec": {
                "trainingDatasetUri": "gs://bkt/train.jsonl",
                "hyperParameters": {"epochCount": 4, "learningRateMultiplier": 1.0},
            }
        },
        {"description": "v2"},
        {"labels": {"team": "other"}},
        {"serviceAccount": "tuner@p.iam.gserviceaccount.com"},
        {"tunedModelDisplayName": "bot-v2"},
    ],
)
def test_every_input_of_the_job_is_part_of_its_identity(change: dict[str, Any]) -> None:
    assert _identity(_spec(**change)) != _identity(_spec())


def test_namespace_name_project_location_and_fleet_are_part_of_it() -> None:
    base = _identity(_spec())
    assert _identity(_spec(), name="other") != base
    assert _identity(_spec(), namespace="other") != base
    assert _identity(_spec(), fleet="staging") != base
    assert identity_of("ml", "bot", _spec(), project="q", location="us-central1") != base
    assert identity_of("ml", "bot", _spec(), project="p", location="europe-west4") != base


def _job(name: str, state: str, created: int) -> TuningJob:
    return TuningJob(name=name, state=state, create_time=datetime(2026, 1, created, tzinfo=UTC))


def test_a_cancelled_job_is_never_adopted_by_identity_and_the_newest_wins() -> None:
    cancelled = _job("j/1", "JOB_STATE_CANCELLED", 1)
    cancelling = _job("j/2", "JOB_STATE_CANCELLING", 2)
    failed = _job("j/3", "JOB_STATE_FAILED", 3)
    succeeded = _job("j/4", "JOB_STATE_SUCCEEDED", 4)
    assert choose_by_identity([cancelled, cancelling]) is None
    assert choose_by_identity([cancelled, failed]) is failed
    assert choose_by_identity([succeeded, failed, cancelled]) is succeeded
    assert choose_by_identity([]) is None


def test_a_job_found_by_uid_is_this_resource_own_whatever_its_state_the_oldest_first() -> None:
    older, newer = _job("j/1", "JOB_STATE_CANCELLED", 1), _job("j/2", "JOB_STATE_RUNNING", 2)
    assert choose_by_uid([newer, older]) is older
    assert choose_by_uid([]) is None


def test_an_import_is_compared_only_on_what_its_spec_states() -> None:
    job = TuningJob.model_validate(
        {
            "name": "projects/1/locations/us-central1/tuningJobs/9",
            "baseModel": "publishers/google/models/gemini-2.5-flash",
            "supervisedTuningSpec": {
                "trainingDatasetUri": "gs://bkt/train.jsonl",
                "hyperParameters": {"epochCount": "3"},
            },
            "labels": {"team": "support"},
        }
    )
    only_name = TuningJobSpec.model_validate({"jobName": job.name})
    assert import_differences(only_name, job) == []
    stated = TuningJobSpec.model_validate(
        {
            "jobName": job.name,
            "baseModel": "gemini-2.5-flash",
            "supervisedTuningSpec": {
                "trainingDatasetUri": "gs://bkt/train.jsonl",
                "hyperParameters": {"epochCount": 3},
            },
            "labels": {"team": "support"},
        }
    )
    assert import_differences(stated, job) == []
    wrong = TuningJobSpec.model_validate(
        {
            "jobName": job.name,
            "supervisedTuningSpec": {
                "trainingDatasetUri": "gs://bkt/other.jsonl",
                "hyperParameters": {"epochCount": 2},
            },
            "description": "ours",
            "labels": {"team": "ads"},
        }
    )
    assert import_differences(wrong, job) == [
        'spec.supervisedTuningSpec.trainingDatasetUri is "gs://bkt/other.jsonl" but the job has "gs://bkt/train.jsonl"',
        "spec.supervisedTuningSpec.hyperParameters.epochCount is 2 but the job has 3",
        'spec.description is "ours" but the job has absent',
        'spec.labels.team is "ads" but the job has "support"',
    ]


def test_a_spec_without_inputs_must_import() -> None:
    with pytest.raises(
        ValueError, match=r"spec.baseModel \(or spec.preTunedModel\) and one tuning spec .* are required"
    ):
        TuningJobSpec.model_validate({"baseModel": "gemini-2.5-flash"})
    assert TuningJobSpec.model_validate(
        {"jobName": "projects/p1/locations/us-central1/tuningJobs/1"}
    ).imported


def _preference(uri: str = "gs://bkt/prefs.jsonl", beta: float = 0.1) -> TuningJobSpec:
    return _spec(
        supervisedTuningSpec=None,
        preferenceOptimizationSpec={"trainingDatasetUri": uri, "hyperParameters": {"beta": beta}},
    )


def test_a_preference_job_identity_holds_its_data_and_hyperparameters() -> None:
    assert _identity(_preference()) == _identity(_preference())
    assert _identity(_preference()) != _identity(_spec())
    assert _identity(_preference(uri="gs://bkt/prefs-v2.jsonl")) != _identity(_preference())
    assert _identity(_preference(beta=0.2)) != _identity(_preference())


def test_an_imported_preference_job_is_compared_on_its_preference_spec() -> None:
    job = TuningJob.model_validate(
        {
            "name": "projects/1/locations/us-central1/tuningJobs/9",
            "baseModel": "gemini-2.5-flash",
            "preferenceOptimizationSpec": {
                "trainingDatasetUri": "gs://bkt/prefs.jsonl",
                "hyperParameters": {"beta": 0.3, "epochCount": "2"},
            },
            "labels": {"team": "support"},
        }
    )
    assert import_differences(_preference(), job) == [
        "spec.preferenceOptimizationSpec.hyperParameters.beta is 0.1 but the job has 0.3"
    ]
