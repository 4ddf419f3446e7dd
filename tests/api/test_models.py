"""The pydantic models: what they accept, what they reject, and how they serialize."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from controller.api import (
    API_VERSION,
    AdapterSize,
    Condition,
    TestPrompt,
    TunedModel,
    TunedModelSpec,
    TuningJob,
    TuningJobSpec,
    TuningJobStatus,
    format_timestamp,
)
from controller.api.base import ApiModel, OneOf
from controller.api.tunedmodel import MAX_SNAPSHOTS, TunedModelStatus, TuningSnapshot

from .cases import INVALID, Invalid, tuned_model, tuning_job

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "manifests" / "examples").glob("*.yaml"))
KINDS: dict[str, type[TuningJob] | type[TunedModel]] = {"TuningJob": TuningJob, "TunedModel": TunedModel}


def _parse(manifest: dict[str, object]) -> TuningJob | TunedModel:
    return KINDS[str(manifest["kind"])].model_validate(manifest)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_parse_and_serialize_back(path: Path) -> None:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d["kind"] in KINDS]
    assert documents, f"{path.name} holds no vertexops resource"
    for document in documents:
        parsed = _parse(document).to_k8s()
        if document["kind"] == "TunedModel":  # its default deletionPolicy, which the API server fills in too
            parsed["spec"].pop("deletionPolicy")
            document["spec"].pop("deletionPolicy", None)
        assert parsed == document


def test_camel_case_names_and_explicit_aliases() -> None:
    spec = TuningJobSpec.model_validate(tuning_job()["spec"])
    assert spec.project_id == "acme-ml-prod"
    assert spec.supervised_tuning_spec.hyper_parameters is not None
    assert spec.supervised_tuning_spec.hyper_parameters.adapter_size == AdapterSize.FOUR
    dumped = spec.to_k8s()
    assert "projectID" in dumped
    assert "supervisedTuningSpec" in dumped
    status = TuningJobStatus(console_url="https://console.cloud.google.com/x", progress="1/10")
    assert status.to_k8s() == {"consoleURL": "https://console.cloud.google.com/x", "progress": "1/10"}


def test_api_version_literal_matches_group_and_version() -> None:
    spec = TuningJobSpec.model_validate(tuning_job()["spec"])
    assert TuningJob(spec=spec).api_version == API_VERSION
    model_spec = TunedModelSpec.model_validate(tuned_model()["spec"])
    assert TunedModel(spec=model_spec).api_version == API_VERSION


def test_absent_fields_are_left_out_not_null() -> None:
    job = TuningJob.model_validate(
        {
            "metadata": {"name": "x"},
            "spec": {
                "baseModel": "gemini-2.5-flash",
                "supervisedTuningSpec": {"trainingDatasetUri": "gs://bkt/t"},
            },
        }
    )
    assert job.to_k8s()["spec"] == {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {"trainingDatasetUri": "gs://bkt/t"},
    }
    assert "status" not in job.to_k8s()


def test_metadata_keeps_fields_the_operator_does_not_model() -> None:
    manifest = tuning_job()
    manifest["metadata"].update(
        uid="1234",
        generation=3,
        ownerReferences=[{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u"}],
        managedFields=[{"manager": "kubectl", "operation": "Apply"}],
    )
    job = TuningJob.model_validate(manifest)
    assert job.metadata.generation == 3
    assert job.to_k8s()["metadata"] == manifest["metadata"]


def test_status_ignores_fields_a_newer_operator_wrote() -> None:
    status = TuningJobStatus.model_validate({"state": "JOB_STATE_RUNNING", "someFutureField": {"a": 1}})
    assert status.to_k8s() == {"state": "JOB_STATE_RUNNING"}


@pytest.mark.parametrize("case", [c for c in INVALID if c.rejected_by_models], ids=lambda c: c.id)
def test_models_reject_what_the_api_server_rejects(case: Invalid) -> None:
    with pytest.raises(ValidationError) as error:
        _parse(case.manifest())
    text = str(error.value)
    # The error names the offending field (its last path segment) and repeats the rule's own words.
    path = case.expect[0].rsplit('"', 2)[-2] if case.expect[0].startswith("unknown field") else case.expect[0]
    assert path.rsplit(".", 1)[-1].split("[", 1)[0] in text
    shared_words = ("exactly one of", "at most one of", "reserved for the operator")
    for words in case.expect[1:]:
        if any(shared in words for shared in shared_words):
            assert words in text


@pytest.mark.parametrize(
    "case", [c for c in INVALID if not c.rejected_by_models], ids=lambda c: c.id
)  # fmt: skip
def test_lax_coercions_are_known(case: Invalid) -> None:
    """Pydantic coerces a few spellings the API server refuses; the server is the gate for those."""
    parsed = _parse(case.manifest())
    assert parsed.spec is not None


def test_labels_follow_google_rules_in_python_too() -> None:
    spec = tuning_job()["spec"]
    TuningJobSpec.model_validate({**spec, "labels": {"é-team": "ü_1"}})  # international letters are allowed
    for labels in ({"Team": "x"}, {"1a": "x"}, {"a": "X"}, {"a" * 64: "x"}, {"vertexops-uid": "x"}):
        with pytest.raises(ValidationError):
            TuningJobSpec.model_validate({**spec, "labels": labels})


def test_one_of_requires_exactly_one_when_required() -> None:
    class Pair(ApiModel):
        one_of = (OneOf(("a", "b"), required=True),)
        a: int | None = None
        b: int | None = None

    assert Pair(a=1).a == 1
    with pytest.raises(ValidationError, match="exactly one of a or b must be set"):
        Pair()
    with pytest.raises(ValidationError, match="exactly one of a or b must be set"):
        Pair(a=1, b=2)


def test_one_of_cel_rules() -> None:
    assert OneOf(("a", "b")).cel_rule()["rule"] == "!(has(self.a) && has(self.b))"
    assert OneOf(("a", "b"), required=True).cel_rule()["rule"] == "has(self.a) != has(self.b)"
    assert OneOf(("a", "b", "c"), required=True).cel_rule()["rule"] == (
        "[has(self.a), has(self.b), has(self.c)].filter(x, x).size() == 1"
    )


def test_tuned_model_id_defaults_to_a_valid_metadata_name() -> None:
    model = TunedModel.model_validate(tuned_model("sentiment-v2"))
    assert model.remote_id() == "sentiment-v2"
    explicit = tuned_model("Not.An.Id")
    explicit["spec"]["tunedModelId"] = "chosen-id"
    assert TunedModel.model_validate(explicit).remote_id() == "chosen-id"
    with pytest.raises(ValidationError, match=r"spec\.tunedModelId is required"):
        TunedModel.model_validate(tuned_model("not.an.id"))


def test_snapshots_are_bounded() -> None:
    snapshots = [TuningSnapshot(step=i) for i in range(MAX_SNAPSHOTS)]
    assert len(TunedModelStatus(snapshots=snapshots).snapshots or []) == MAX_SNAPSHOTS
    with pytest.raises(ValidationError, match="snapshots"):
        TunedModelStatus(snapshots=[*snapshots, TuningSnapshot(step=99)])


def test_timestamps_are_utc_rfc3339() -> None:
    assert format_timestamp(datetime(2026, 8, 1, 10, 0, 0, tzinfo=UTC)) == "2026-08-01T10:00:00Z"
    assert format_timestamp(datetime(2026, 8, 1, 10, 0, 0, 120000, tzinfo=UTC)) == "2026-08-01T10:00:00.12Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_timestamp(datetime(2026, 8, 1, 12, 0, 0, tzinfo=plus_two)) == "2026-08-01T10:00:00Z"
    # Google's nanoseconds are kept to the microsecond.
    status = TuningJobStatus.model_validate({"createTime": "2026-08-01T10:00:00.123456789Z"})
    assert status.to_k8s() == {"createTime": "2026-08-01T10:00:00.123456Z"}
    condition = Condition(
        type="Ready",
        status="True",
        reason="JobSucceeded",
        message="",
        last_transition_time=datetime(2026, 1, 2),
    )
    assert condition.to_k8s()["lastTransitionTime"] == "2026-01-02T00:00:00Z"


def test_test_prompt_ranges() -> None:
    TestPrompt.model_validate({"prompt": "hi", "generationConfig": {"temperature": 2, "topP": 1, "topK": 1}})
    for config in ({"temperature": -0.1}, {"topP": 1.1}, {"topK": 0}, {"maxOutputTokens": 0}):
        with pytest.raises(ValidationError):
            TestPrompt.model_validate({"prompt": "hi", "generationConfig": config})
