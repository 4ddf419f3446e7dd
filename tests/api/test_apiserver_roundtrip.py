"""Objects written through the API server parse into the models and serialize back unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s
from pydantic import BaseModel

from controller.api import (
    GROUP,
    VERSION,
    Condition,
    GoogleError,
    TestPromptResult,
    TunedModel,
    TunedModelStatus,
    TuningJob,
    TuningJobStatus,
)
from controller.api.evaluation import EvaluationResult, EvaluationRun
from controller.api.tunedmodel import TuningSnapshot
from controller.api.tuningjob import (
    Checkpoint,
    LargestExample,
    PreferenceDataStats,
    PreflightFile,
    PreflightMode,
    PreflightStatus,
    PreTunedModelStatus,
    TrainingMetrics,
    TuningDataStats,
    TuningJobMetadata,
    TuningJobSpec,
    TuningOutput,
)
from controller.crdgen import install_crds
from controller.testenv.controlplane import ControlPlane

from .cases import EVALUATION_CONFIG, preference_tuning_job, tuned_model, tuning_job

T0 = datetime(2026, 8, 1, 10, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 8, 1, 10, 5, 30, 250000, tzinfo=UTC)


def _conditions() -> list[Condition]:
    return [
        Condition(type=t, status=s, reason=r, message=m, observed_generation=1, last_transition_time=T0)
        for t, s, r, m in (
            ("Ready", "True", "JobSucceeded", "The tuned model is ready."),
            ("Reconciling", "False", "JobSucceeded", ""),
            ("Stalled", "False", "JobSucceeded", ""),
            ("Synced", "True", "ReconcileSuccess", ""),
        )
    ]


def _prompt_results() -> list[TestPromptResult]:
    return [
        TestPromptResult(
            prompt="Hello",
            prompt_digest="3f7a1c2b9d4e5f60",
            response_text="Hi!",
            finish_reason="STOP",
            time=T1,
        ),
        TestPromptResult(prompt="Again", error="quota exceeded (429)", time=T1),
    ]


def full_tuning_job_status() -> TuningJobStatus:
    job = "projects/123/locations/us-central1/tuningJobs/4982013113894174720"
    return TuningJobStatus(
        observed_generation=1,
        conditions=_conditions(),
        state="JOB_STATE_SUCCEEDED",
        tuning_job_state="TUNING_JOB_STATE_POST_PROCESSING",
        tuning_job_metadata=TuningJobMetadata(completed_epoch_count=3, completed_step_count=120),
        name=job,
        console_url="https://console.cloud.google.com/vertex-ai/generative/language/locations/us-central1/"
        "tuning/tuningJob/4982013113894174720?project=123",
        create_requested_time=T0,
        identity="0f3c9a1e2b4d5c6e7f8091a2b3c4d5e6",
        impersonated_service_account="team-a-tuning@team-a-project.iam.gserviceaccount.com",
        create_time=T0,
        start_time=T1,
        end_time=T1,
        update_time=T1,
        error=GoogleError(code=1, message="CANCELLED"),
        tuned_model=TuningOutput(
            model="projects/123/locations/us-central1/models/777@1",
            endpoint="projects/123/locations/us-central1/endpoints/888",
            checkpoints=[
                Checkpoint(checkpoint_id="1", epoch=1, step=10, endpoint="projects/123/x/endpoints/9")
            ],
        ),
        pre_tuned_model=PreTunedModelStatus(
            tuned_model_name="projects/123/locations/us-central1/models/776@1",
            checkpoint_id="2",
            base_model="gemini-2.5-flash",
            tuning_job="support-bot-v1",
        ),
        experiment="projects/123/locations/us-central1/metadataStores/default/contexts/tuning-experiment-1",
        tuning_data_stats=TuningDataStats(
            tuning_dataset_example_count=500,
            total_tuning_character_count=1_234_567,
            total_billable_token_count=9_876_543_210,
            tuning_step_count=125,
            total_truncated_example_count=2,
            truncated_example_indices=[7, 41],
            dropped_example_reasons=["too many tokens", "invalid image"],
        ),
        # A status holds one kind of data statistics; both are set here so both round-trip.
        preference_optimization_data_stats=PreferenceDataStats(
            tuning_dataset_example_count=400,
            total_billable_token_count=8_765_432_109,
            tuning_step_count=50,
            dropped_example_indices=[3, 17],
            dropped_example_reasons=["Example exceeds the token limit.", "Example has no completions."],
        ),
        latest_metrics=TrainingMetrics(
            step=125,
            train_total_loss=0.125,
            eval_total_loss=0.25,
            train_token_accuracy=0.875,
            eval_token_accuracy=0.8125,
            train_num_predictions=2048.0,
            eval_num_predictions=512.0,
            read_time=T1,
        ),
        evaluate_dataset_runs=[
            EvaluationRun(
                checkpoint_id="1",
                evaluation_run="projects/123/locations/us-central1/evaluationRuns/77",
                operation_name="projects/123/locations/us-central1/operations/78",
                output_directory="gs://acme-bucket/evaluation/checkpoint-1",
                results=[
                    EvaluationResult(metric="bleu", aggregation_metric="AVERAGE", score=0.625),
                    EvaluationResult(metric="pairwise", aggregation_metric="MODE", pairwise_choice="TIE"),
                ],
            ),
            EvaluationRun(checkpoint_id="2", error=GoogleError(code=13, message="evaluation failed")),
        ],
        progress="125/125",
        test_prompt_results=_prompt_results(),
        preflight=PreflightStatus(
            mode=PreflightMode.REQUIRED,
            strict=True,
            result="Failed",
            reason="InvalidDataset",
            message="the dataset has 1 error; first: gs://b/t.jsonl line 2: contents: required",
            checked_time=T0,
            inputs_digest="58701c69016e5339",
            files=[
                PreflightFile(
                    uri="gs://b/t.jsonl",
                    role="training",
                    generation="1763704859638502",
                    size=2_108,
                    example_count=6,
                    estimated_tokens=305,
                    error_count=1,
                    warning_count=0,
                )
            ],
            training_example_count=6,
            validation_example_count=2,
            estimated_training_tokens=305,
            epoch_count=3,
            estimated_billable_tokens=915,
            largest_example=LargestExample(uri="gs://b/t.jsonl", line=2, estimated_tokens=64),
            error_count=1,
            warning_count=0,
            problems=["error: gs://b/t.jsonl line 2: contents: required"],
        ),
    )


def full_tuned_model_status() -> TunedModelStatus:
    return TunedModelStatus(
        observed_generation=1,
        conditions=_conditions(),
        name="tunedModels/rt-model",
        state="ACTIVE",
        operation="tunedModels/rt-model/operations/bvl8dymw0fhw",
        create_requested_time=T0,
        create_time=T0,
        update_time=T1,
        start_time=T0,
        complete_time=T1,
        completed_steps=38,
        total_steps=38,
        completed_percent=100.0,
        snapshots=[TuningSnapshot(step=s, epoch=1, mean_loss=1.5 / s, compute_time=T1) for s in (36, 37, 38)],
        error=GoogleError(code=3, message="example error"),
        test_prompt_results=_prompt_results(),
    )


def _assert_every_field_set(models: list[BaseModel], path: str) -> None:
    """Guard for this test: each field is set somewhere (in at least one item of a list), so a status field
    added later must be added here too or the round trip would not cover it."""
    for name in type(models[0]).model_fields:
        values = [getattr(model, name) for model in models]
        assert any(value is not None for value in values), f"{path}.{name} is not set in the round-trip data"
        nested = [
            item
            for value in values
            for item in (value if isinstance(value, list) else [value])
            if isinstance(item, BaseModel)
        ]
        if nested:
            _assert_every_field_set(nested, f"{path}.{name}")


def _round_trip(
    api_client: k8s.ApiClient,
    namespace: str,
    plural: str,
    resource: TuningJob | TunedModel,
    status: BaseModel,
) -> tuple[dict[str, Any], TuningJob | TunedModel]:
    custom = k8s.CustomObjectsApi(api_client)
    name = resource.metadata.name
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, resource.to_k8s())
    assert isinstance(status, TuningJobStatus | TunedModelStatus)
    custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, plural, name, {"status": status.to_k8s()}
    )
    stored: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    parsed = type(resource).model_validate(stored)
    return stored, parsed


def test_tuning_job_round_trip(crds: ControlPlane, api_client: k8s.ApiClient, namespace: str) -> None:
    manifest = tuning_job("rt-job")
    # Every field set: an import that also states every input (which the operator then compares).
    manifest["spec"]["jobName"] = "projects/acme-ml-prod/locations/us-central1/tuningJobs/7"
    manifest["spec"]["adoptionPolicy"] = "Never"
    manifest["spec"]["preflight"] = {"mode": "WarnOnly", "strict": True}
    manifest["spec"]["supervisedTuningSpec"]["evaluationConfig"] = EVALUATION_CONFIG
    job = TuningJob.model_validate(manifest)
    status = full_tuning_job_status()
    # The tuning specs are a one-of: the preference job below sets the one this job cannot.
    preference = TuningJob.model_validate(preference_tuning_job("rt-preference-job"))
    _assert_every_field_set([status], "status")
    # baseModel and preTunedModel are exclusive, and so are preTunedModel's two sources: one job each.
    continued = []
    for name, source in (
        ("rt-job-from-model", {"tunedModelName": "projects/acme-ml-prod/locations/us-central1/models/7@2"}),
        ("rt-job-from-job", {"tuningJobRef": {"name": "rt-job"}, "checkpointId": "2"}),
    ):
        other = tuning_job(name)
        del other["spec"]["baseModel"]
        other["spec"]["preTunedModel"] = source
        continued.append(TuningJob.model_validate(other))
    _assert_every_field_set([job.spec, preference.spec, *(c.spec for c in continued)], "spec")
    for other_job in continued:
        _, parsed_other = _round_trip(api_client, namespace, "tuningjobs", other_job, status)
        assert isinstance(parsed_other, TuningJob) and parsed_other.spec == other_job.spec

    for resource in (job, preference):
        stored, parsed = _round_trip(api_client, namespace, "tuningjobs", resource, status)

        assert isinstance(parsed, TuningJob)
        assert parsed.spec == resource.spec
        assert parsed.status == status
        assert parsed.to_k8s()["spec"] == stored["spec"]
        # JSON numbers compare by value: the API server writes 2048.0 back as 2048.
        assert parsed.to_k8s()["status"] == stored["status"]
        assert parsed.metadata.uid == stored["metadata"]["uid"]
        assert parsed.metadata.generation == 1


def test_tuned_model_round_trip(crds: ControlPlane, api_client: k8s.ApiClient, namespace: str) -> None:
    model = TunedModel.model_validate(tuned_model("rt-model"))
    model.spec.tuned_model_id = "rt-model"
    status = full_tuned_model_status()
    _assert_every_field_set([status], "status")

    stored, parsed = _round_trip(api_client, namespace, "tunedmodels", model, status)

    assert isinstance(parsed, TunedModel)
    assert parsed.spec == model.spec
    assert parsed.status == status
    assert parsed.to_k8s()["spec"] == stored["spec"]
    # JSON numbers compare by value: the API server writes 2048.0 back as 2048.
    assert parsed.to_k8s()["status"] == stored["status"]


def test_spec_defaults_come_from_the_crd(
    crds: ControlPlane, api_client: k8s.ApiClient, namespace: str
) -> None:
    manifest = tuning_job("defaults")
    del manifest["spec"]["deletionPolicy"]
    custom = k8s.CustomObjectsApi(api_client)
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tuningjobs", manifest)
    # No schema default: an absent deletionPolicy means Cancel, or Orphan for an imported job, so the
    # operator (not the API server) resolves it and the object keeps saying what the user wrote.
    assert "deletionPolicy" not in created["spec"]
    assert TuningJobSpec.model_validate(created["spec"]).effective_deletion_policy() == "Cancel"
    manifest = tuning_job("defaults-import")
    del manifest["spec"]["deletionPolicy"]
    manifest["spec"]["jobName"] = "projects/acme-ml-prod/locations/us-central1/tuningJobs/42"
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tuningjobs", manifest)
    assert TuningJobSpec.model_validate(created["spec"]).effective_deletion_policy() == "Orphan"


def test_status_is_a_subresource(crds: ControlPlane, api_client: k8s.ApiClient, namespace: str) -> None:
    """A status sent with the main resource is dropped: only the operator's /status writes count."""
    manifest = tuning_job("subresource")
    manifest["status"] = {"state": "JOB_STATE_SUCCEEDED"}
    custom = k8s.CustomObjectsApi(api_client)
    created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tuningjobs", manifest)
    # What remains is the CRD's default status: not yet observed, which kstatus reads as InProgress.
    assert created["status"] == {"observedGeneration": 0}
    assert created["metadata"]["generation"] == 1


def test_install_crds_with_an_api_client_is_idempotent(crds: ControlPlane, api_client: k8s.ApiClient) -> None:
    install_crds(api_client, timeout=60)
    names = {
        c.metadata.name for c in k8s.ApiextensionsV1Api(api_client).list_custom_resource_definition().items
    }
    assert {"tuningjobs.tuning.vertexops.dev", "tunedmodels.tuning.vertexops.dev"} <= names
