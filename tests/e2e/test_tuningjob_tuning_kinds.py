"""The kinds of Vertex AI tuning a TuningJob declares, end to end: preference tuning beside supervised
tuning, the evaluation of checkpoints, and multimodal datasets as training data. Each test applies a manifest
to the real API server, lets the operator create the job on the emulator, and checks both what reached
Vertex AI (read back from the emulator) and what status shows."""

from __future__ import annotations

import json
from typing import Any

import httpx

from controller.testenv.google_credentials import inspector_auth
from e2e.conftest import OperatorFactory
from e2e.support import Resources, condition, is_true, tuning_job
from emulator.server import Emulator


def _vertex_job(emulator: Emulator, name: str) -> dict[str, Any]:
    """The job as Vertex AI (the emulator) holds it, raw JSON: what the operator sent, as Google echoes it."""
    headers = inspector_auth(emulator).headers()
    response = httpx.get(f"{emulator.url}/v1/{name}", headers=headers, timeout=10)
    response.raise_for_status()
    job: dict[str, Any] = response.json()
    return job


def _preference_example(preferred: str, dispreferred: str, scores: tuple[int, int] = (1, 0)) -> bytes:
    """One line of preference data in the documented format: a prompt and a scored pair of completions."""
    example = {
        "system_instruction": {"parts": [{"text": "Answer politely."}]},
        "contents": [{"role": "user", "parts": [{"text": "Where is the station?"}]}],
        "completions": [
            {"score": scores[0], "completion": {"role": "model", "parts": [{"text": preferred}]}},
            {"score": scores[1], "completion": {"role": "model", "parts": [{"text": dispreferred}]}},
        ],
    }
    return json.dumps(example).encode() + b"\n"


PREFERENCES = _preference_example("Second street on the left, gladly.", "Find it yourself.") * 6


def _preference_job(name: str) -> dict[str, Any]:
    manifest = tuning_job(name)
    del manifest["spec"]["supervisedTuningSpec"]
    manifest["spec"]["preferenceOptimizationSpec"] = {
        "trainingDatasetUri": "gs://vertexops-test/preferences.jsonl",
        "hyperParameters": {"epochCount": 2, "adapterSize": "ADAPTER_SIZE_FOUR", "beta": 0.25},
        "exportLastCheckpointOnly": True,
    }
    return manifest


def test_a_preference_job_is_sent_as_one_and_goes_ready_with_its_statistics(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    emulator.drop_examples(2, "Example has fewer than two completions.", display_name="prefer-polite")
    emulator.put_object("vertexops-test", "preferences.jsonl", PREFERENCES)
    # Required preflight: the data is checked with the preference format's rules before the create.
    start_operator("--preflight-default=Required")
    resources.create(_preference_job("prefer-polite"))

    obj = resources.wait_for("prefer-polite", lambda o: is_true(o, "Ready"), what="Ready=True")
    status = obj["status"]
    assert status["state"] == "JOB_STATE_SUCCEEDED"
    stats = status["preferenceOptimizationDataStats"]
    assert stats["tuningStepCount"] == 20 and stats["tuningDatasetExampleCount"] > 0
    assert stats["totalBillableTokenCount"] > 0
    assert len(stats["droppedExampleIndices"]) == 2
    assert stats["droppedExampleReasons"] == ["Example has fewer than two completions."] * 2
    assert "tuningDataStats" not in status  # that is the supervised job's summary
    assert status["progress"] == "100%"
    # One checkpoint: exportLastCheckpointOnly reached Vertex AI.
    assert len(status["tunedModel"]["checkpoints"]) == 1
    preflight = status["preflight"]
    assert preflight["result"] == "Passed", preflight
    assert preflight["trainingExampleCount"] == 6 and preflight["epochCount"] == 2
    assert preflight["estimatedBillableTokens"] == 2 * preflight["estimatedTrainingTokens"]

    sent = _vertex_job(emulator, status["name"])
    assert "supervisedTuningSpec" not in sent
    spec = sent["preferenceOptimizationSpec"]
    assert spec["trainingDatasetUri"] == "gs://vertexops-test/preferences.jsonl"
    assert spec["hyperParameters"]["beta"] == 0.25
    assert spec["hyperParameters"]["epochCount"] == "2"  # int64 on the wire
    assert spec["exportLastCheckpointOnly"] is True
    assert emulator.count("tuningJobs.create") == 1


def test_preference_data_in_the_wrong_shape_stops_the_job_before_it_is_created(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    tied = _preference_example("Over there.", "Over there!", scores=(1, 1))
    emulator.put_object("vertexops-test", "preferences.jsonl", PREFERENCES + tied)
    start_operator("--preflight-default=Required", "--preflight-recheck-seconds=0.5")
    resources.create(_preference_job("tied-scores"))

    obj = resources.wait_for(
        "tied-scores",
        lambda o: (condition(o, "Stalled") or {}).get("reason") == "InvalidDataset",
        what="Stalled InvalidDataset",
    )
    assert condition(obj, "Stalled")["message"].endswith(  # type: ignore[index]
        "first: gs://vertexops-test/preferences.jsonl line 7: completions: both are scored 1: the pair needs "
        "one preferred (score 1) and one dispreferred (score 0)"
    )
    assert emulator.count("tuningJobs.create") == 0
    # Fixed in the bucket: the job starts without the resource being touched.
    emulator.put_object("vertexops-test", "preferences.jsonl", PREFERENCES)
    resources.wait_for("tied-scores", lambda o: bool((o.get("status") or {}).get("name")), what="created")
    assert emulator.count("tuningJobs.create") == 1


EVALUATION = {
    "metrics": [
        {"aggregationMetrics": ["AVERAGE", "MEDIAN"], "bleuSpec": {}},
        {"pairwiseMetricSpec": {"metricPromptTemplate": "Better: {baseline_response} or {response}?"}},
    ],
    "outputConfig": {"gcsDestination": {"outputUriPrefix": "gs://vertexops-test/evaluation/"}},
    "autoraterConfig": {"samplingCount": 2},
}


def test_a_job_with_an_evaluation_config_shows_each_evaluation_in_status(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    start_operator()
    manifest = tuning_job("evaluated-bot")
    manifest["spec"]["supervisedTuningSpec"]["evaluationConfig"] = EVALUATION
    resources.create(manifest)

    obj = resources.wait_for(
        "evaluated-bot",
        lambda o: is_true(o, "Ready") and bool(o["status"].get("evaluateDatasetRuns")),
        what="Ready=True with evaluations",
    )
    status = obj["status"]
    runs = status["evaluateDatasetRuns"]
    checkpoints = [c["checkpointId"] for c in status["tunedModel"]["checkpoints"]]
    assert [r["checkpointId"] for r in runs] == checkpoints and len(runs) == 2  # epochCount 2
    for run in runs:
        assert run["evaluationRun"].startswith(status["name"].split("/tuningJobs/")[0] + "/evaluationRuns/")
        assert run["outputDirectory"].startswith("gs://vertexops-test/evaluation/")
        assert "error" not in run
        bleu = [r for r in run["results"] if r["metric"] == "bleu"]
        assert [r["aggregationMetric"] for r in bleu] == ["AVERAGE", "MEDIAN"]
        assert all(0 < r["score"] <= 1 for r in bleu)
        assert [r["pairwiseChoice"] for r in run["results"] if r["metric"] == "pairwise"] == ["CANDIDATE"]

    sent = _vertex_job(emulator, status["name"])
    assert sent["supervisedTuningSpec"]["evaluationConfig"] == EVALUATION


DATASET = "projects/vertexops-test/locations/us-central1/datasets/4471825039126396928"


def test_a_multimodal_dataset_is_accepted_sent_as_named_and_not_preflighted(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    start_operator("--preflight-default=Required")
    manifest = tuning_job("photo-captions")
    manifest["spec"]["supervisedTuningSpec"]["trainingDatasetUri"] = DATASET
    resources.create(manifest)

    obj = resources.wait_for("photo-captions", lambda o: is_true(o, "Ready"), what="Ready=True")
    status = obj["status"]
    preflight = status["preflight"]
    assert preflight["result"] == "Skipped"
    assert f"{DATASET} is a Vertex AI multimodal dataset" in preflight["message"]
    assert emulator.count("objects.get") == 0
    assert status["tuningDataStats"]["tuningDatasetExampleCount"] > 0

    sent = _vertex_job(emulator, status["name"])
    assert sent["supervisedTuningSpec"]["trainingDatasetUri"] == DATASET
    # The validation file stays a gs:// JSONL: the two forms mix.
    assert sent["supervisedTuningSpec"]["validationDatasetUri"] == "gs://vertexops-test/validation.jsonl"
