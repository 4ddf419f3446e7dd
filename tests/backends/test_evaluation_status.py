"""How the evaluations Vertex AI reports for a job (`evaluateDatasetRuns`) read in status."""

from __future__ import annotations

from controller.backends.tuningjob import _job_status
from controller.google.models_vertex import TuningJob

NAME = "projects/123/locations/us-central1/tuningJobs/42"


def _status(runs: list[dict[str, object]]) -> dict[str, object]:
    raw = {"name": NAME, "state": "JOB_STATE_SUCCEEDED", "evaluateDatasetRuns": runs}
    job = TuningJob.model_validate(raw)
    return _job_status(job, "p", "us-central1")


def test_each_run_shows_its_checkpoint_output_folder_and_scores_or_its_error() -> None:
    status = _status(
        [
            {
                "checkpointId": "1",
                "evaluationRun": "projects/123/locations/us-central1/evaluationRuns/7",
                "evaluateDatasetResponse": {
                    "outputInfo": {"gcsOutputDirectory": "gs://b/eval/1"},
                    "aggregationOutput": {
                        "aggregationResults": [
                            {"aggregationMetric": "AVERAGE", "rougeMetricValue": {"score": 0.5}},
                            {"aggregationMetric": "MODE", "pairwiseMetricResult": {"pairwiseChoice": "TIE"}},
                            {"aggregationMetric": "AVERAGE", "somethingNew": {"score": 1}},
                        ]
                    },
                },
            },
            {
                "checkpointId": "2",
                "operationName": "projects/123/locations/us-central1/operations/8",
                "error": {"code": 13, "message": "evaluation failed", "details": []},
            },
        ]
    )
    assert status["evaluateDatasetRuns"] == [
        {
            "checkpointId": "1",
            "evaluationRun": "projects/123/locations/us-central1/evaluationRuns/7",
            "outputDirectory": "gs://b/eval/1",
            "results": [
                {"metric": "rouge", "aggregationMetric": "AVERAGE", "score": 0.5},
                {"metric": "pairwise", "aggregationMetric": "MODE", "pairwiseChoice": "TIE"},
            ],
        },
        {
            "checkpointId": "2",
            "operationName": "projects/123/locations/us-central1/operations/8",
            "error": {"code": 13, "message": "evaluation failed"},
        },
    ]


def test_a_job_without_evaluations_has_no_evaluation_status() -> None:
    assert "evaluateDatasetRuns" not in _status([])
