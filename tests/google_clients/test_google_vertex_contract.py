"""Every Vertex AI client call against the emulator."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from google_helpers import LOCATION, PROJECT, TOKEN, Calls, job_body

from controller.google import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    StaticTokenAuth,
    VertexClient,
)
from controller.google.models_vertex import TRAIN_TOTAL_LOSS, TuningJobCreate
from emulator import Emulator

PARENT = "projects/123456789012/locations/us-central1"


def test_create_returns_the_job_with_server_fields(vertex: VertexClient, calls: Calls) -> None:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    assert job.name.startswith(f"{PARENT}/tuningJobs/")
    assert len(job.job_id) == 19 and job.job_id.isdigit()
    assert job.state == "JOB_STATE_PENDING"
    assert job.create_time is not None and job.create_time.tzinfo is not None
    assert job.labels == {"vertexops-dev-uid": "6f1c2a"}
    assert job.supervised_tuning_spec is not None
    assert job.supervised_tuning_spec.hyper_parameters is not None
    assert job.supervised_tuning_spec.hyper_parameters.epoch_count == 2  # "2" on the wire
    assert calls.statuses("tuningJobs.create") == [200]


def test_create_accepts_the_typed_request_model(vertex: VertexClient) -> None:
    request = TuningJobCreate.model_validate(job_body())
    assert request.to_api()["supervisedTuningSpec"]["hyperParameters"]["epochCount"] == "2"
    job = vertex.create_tuning_job(PROJECT, LOCATION, request)
    assert vertex.get_tuning_job(job.name).name == job.name


def test_get_follows_the_lifecycle_to_success(vertex: VertexClient, emu: Emulator) -> None:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    emu.advance(40)
    running = vertex.get_tuning_job(job.name)
    assert running.state == "JOB_STATE_RUNNING"
    assert running.experiment is not None and running.experiment.endswith(f"tuning-experiment-{job.job_id}")
    assert running.tuning_data_stats is not None
    emu.advance(300)
    done = vertex.get_tuning_job(job.name)
    assert done.state == "JOB_STATE_SUCCEEDED" and done.is_terminal
    assert done.tuned_model is not None
    assert done.tuned_model.model.endswith("@1")
    assert done.tuned_model.endpoint.startswith(f"{PARENT}/endpoints/")
    assert done.tuned_model.checkpoints[-1].step == 20
    assert done.end_time is not None and done.start_time is not None and done.end_time > done.start_time


def test_list_pages_to_the_end(vertex: VertexClient, calls: Calls) -> None:
    created = {vertex.create_tuning_job(PROJECT, LOCATION, job_body()).name for _ in range(7)}
    listed = vertex.list_tuning_jobs(PROJECT, LOCATION, page_size=3)
    assert {job.name for job in listed} == created
    assert len(listed) == 7
    assert calls.statuses("tuningJobs.list") == [200, 200, 200]  # 3 + 3 + 1


def test_list_page_reports_the_next_token(vertex: VertexClient) -> None:
    for _ in range(3):
        vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    first = vertex.list_tuning_jobs_page(PROJECT, LOCATION, page_size=2)
    assert len(first.tuning_jobs) == 2 and first.next_page_token
    second = vertex.list_tuning_jobs_page(PROJECT, LOCATION, page_size=2, page_token=first.next_page_token)
    assert len(second.tuning_jobs) == 1 and second.next_page_token == ""


def test_list_of_an_empty_location_is_empty(vertex: VertexClient) -> None:
    assert vertex.list_tuning_jobs(PROJECT, "europe-west4") == []


def test_list_filters_by_label_and_state(vertex: VertexClient, emu: Emulator) -> None:
    mine = vertex.create_tuning_job(PROJECT, LOCATION, job_body(labels={"team": "a"}))
    vertex.create_tuning_job(PROJECT, LOCATION, job_body(labels={"team": "b"}))
    by_label = vertex.list_tuning_jobs(PROJECT, LOCATION, filter='labels.team="a"')
    assert [job.name for job in by_label] == [mine.name]
    vertex.cancel_tuning_job(mine.name)
    emu.advance(10)
    cancelled = vertex.list_tuning_jobs(PROJECT, LOCATION, filter='state="JOB_STATE_CANCELLED"')
    assert [job.name for job in cancelled] == [mine.name]


def test_find_by_labels_across_pages(vertex: VertexClient, emu: Emulator) -> None:
    wanted = []
    for index in range(5):
        job = vertex.create_tuning_job(PROJECT, LOCATION, job_body(labels={"uid": f"u{index % 2}"}))
        if index % 2:
            wanted.append(job.name)
    found = vertex.find_tuning_jobs_by_labels(PROJECT, LOCATION, {"uid": "u1"}, page_size=1)
    assert sorted(job.name for job in found) == sorted(wanted)
    queries = [r.query for r in emu.requests("tuningJobs.list")]
    assert len(queries) >= 2 and all("pageSize=1" in q for q in queries), queries  # the page size asked


def test_find_by_labels_falls_back_when_the_server_rejects_the_filter(
    vertex: VertexClient, emu: Emulator
) -> None:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body(labels={"uid": "x1"}))
    vertex.create_tuning_job(PROJECT, LOCATION, job_body(labels={"uid": "x2"}))
    emu.add_fault("status", "tuningJobs.list", status=400, times=1, message="Unsupported filter.")
    found = vertex.find_tuning_jobs_by_labels(PROJECT, LOCATION, {"uid": "x1"})
    assert [j.name for j in found] == [job.name]
    assert [r.query for r in emu.requests("tuningJobs.list")] == ['filter=labels.uid="x1"', ""]

    # The listing without the filter keeps the page size and the API version asked for.
    emu.clear_requests()
    emu.add_fault("status", "tuningJobs.list", status=400, times=1, message="Unsupported filter.")
    found = vertex.find_tuning_jobs_by_labels(
        PROJECT, LOCATION, {"uid": "x1"}, page_size=1, version="v1beta1"
    )
    assert [j.name for j in found] == [job.name]
    listed = emu.requests("tuningJobs.list")
    assert all(r.path.startswith("/v1beta1/") for r in listed), [r.path for r in listed]
    assert [r.query.split("&")[0] for r in listed][:2] == ['filter=labels.uid="x1"', "pageSize=1"]


def test_find_by_labels_filters_client_side_when_the_server_ignores_the_filter(
    vertex: VertexClient, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body(labels={"uid": "y1"}))
    vertex.create_tuning_job(PROJECT, LOCATION, job_body(labels={"uid": "y2"}))
    original = vertex.list_tuning_jobs

    def ignoring_filter(
        project: str,
        location: str,
        *,
        filter: str | None = None,
        page_size: int | None = None,
        version: str | None = None,
    ):  # type: ignore[no-untyped-def]
        return original(project, location, page_size=page_size, version=version)

    monkeypatch.setattr(vertex, "list_tuning_jobs", ignoring_filter)
    assert [j.name for j in vertex.find_tuning_jobs_by_labels(PROJECT, LOCATION, {"uid": "y1"})] == [job.name]


def test_cancel_moves_through_cancelling_to_cancelled(vertex: VertexClient, emu: Emulator) -> None:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    emu.advance(45)
    vertex.cancel_tuning_job(job.name)
    assert vertex.get_tuning_job(job.name).state == "JOB_STATE_CANCELLING"
    vertex.cancel_tuning_job(job.name)  # asking again while cancelling is harmless
    emu.advance(5)
    cancelled = vertex.get_tuning_job(job.name)
    assert cancelled.state == "JOB_STATE_CANCELLED"
    assert cancelled.error is not None and cancelled.error.code == 1
    assert cancelled.tuned_model is None


def test_cancel_of_a_finished_job_is_a_failed_precondition(vertex: VertexClient, emu: Emulator) -> None:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    emu.advance(1000)
    with pytest.raises(FailedPreconditionError) as caught:
        vertex.cancel_tuning_job(job.name)
    assert caught.value.http_status == 400 and caught.value.status == "FAILED_PRECONDITION"
    assert "JOB_STATE_SUCCEEDED" in str(caught.value)


def test_get_of_a_missing_job_is_not_found(vertex: VertexClient) -> None:
    with pytest.raises(NotFoundError) as caught:
        vertex.get_tuning_job(f"{PARENT}/tuningJobs/1234567890123456789")
    assert caught.value.http_status == 404
    assert "tuningJobs.get" in str(caught.value)


def test_invalid_create_names_the_problem(vertex: VertexClient) -> None:
    bad = job_body(supervisedTuningSpec={"trainingDatasetUri": "https://example.com/train.jsonl"})
    with pytest.raises(InvalidArgumentError) as caught:
        vertex.create_tuning_job(PROJECT, LOCATION, bad)
    assert "gs://" in str(caught.value)
    assert caught.value.details[0]["fieldViolations"][0]["field"].endswith("training_dataset_uri")


def test_names_are_checked_before_any_request(vertex: VertexClient, calls: Calls) -> None:
    with pytest.raises(ValueError, match="tuning job name"):
        vertex.get_tuning_job("tuningJobs/123")
    with pytest.raises(ValueError, match="location"):
        vertex.list_tuning_jobs(PROJECT, "us-central1/../x")
    assert calls.items == []


def _succeeded(vertex: VertexClient, emu: Emulator, **overrides: object) -> str:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body(**overrides))
    emu.advance(1000)
    done = vertex.get_tuning_job(job.name)
    assert done.tuned_model is not None
    return done.tuned_model.endpoint


def test_generate_content_on_the_tuned_endpoint(vertex: VertexClient, emu: Emulator) -> None:
    endpoint = _succeeded(vertex, emu)
    answer = vertex.generate_content(endpoint, "what is the capital of France")
    assert answer.text == "[support-bot] France of capital the is what"
    assert answer.candidates[0].finish_reason == "STOP"
    assert answer.usage_metadata is not None and answer.usage_metadata.prompt_token_count == 6
    short = vertex.generate_content(endpoint, "a b c d e", generation_config={"maxOutputTokens": 2})
    assert short.candidates[0].finish_reason == "MAX_TOKENS"


def test_stream_generate_content_yields_chunks(vertex: VertexClient, emu: Emulator) -> None:
    endpoint = _succeeded(vertex, emu)
    chunks = list(vertex.stream_generate_content(endpoint, "one two three four five six seven"))
    assert len(chunks) > 1
    assert "".join(c.text for c in chunks) == "[support-bot] seven six five four three two one"
    assert chunks[-1].candidates[0].finish_reason == "STOP"
    assert chunks[-1].usage_metadata is not None and chunks[-1].usage_metadata.candidates_token_count == 8


def test_generate_content_before_success_is_not_found(vertex: VertexClient, emu: Emulator) -> None:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    future_endpoint = emu.state.vertex.find(PROJECT, LOCATION, job.job_id).endpoint  # deployed on success
    with pytest.raises(NotFoundError):
        vertex.generate_content(future_endpoint, "hi")


def test_metrics_of_a_pending_job_are_empty(vertex: VertexClient) -> None:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    metrics = vertex.read_tuning_metrics(job)
    assert metrics.latest == {} and metrics.experiment is None


def test_metrics_follow_the_job(vertex: VertexClient, emu: Emulator) -> None:
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    emu.advance(30 + 50)  # 5 of 20 steps
    early = vertex.read_tuning_metrics(job.name)
    assert early.train_total_loss is not None and early.train_total_loss.step == 5
    assert early.eval_total_loss is not None and early.eval_total_loss.step == 4  # evaluated every 2 steps
    emu.advance(1000)
    late = vertex.read_tuning_metrics(job.name)
    assert set(late.latest) == {
        "/train_total_loss",
        "/train_fraction_of_correct_next_step_preds",
        "/train_num_predictions",
        "/eval_total_loss",
        "/eval_fraction_of_correct_next_step_preds",
        "/eval_num_predictions",
    }
    assert late.latest[TRAIN_TOTAL_LOSS].step == 20
    assert late.latest[TRAIN_TOTAL_LOSS].value < early.latest[TRAIN_TOTAL_LOSS].value
    assert late.train_accuracy is not None and early.train_accuracy is not None
    assert late.train_accuracy.value > early.train_accuracy.value
    assert late.tensorboard_run is not None and "/tensorboards/" in late.tensorboard_run


def test_metrics_without_validation_have_no_eval_series(vertex: VertexClient, emu: Emulator) -> None:
    job = vertex.create_tuning_job(
        PROJECT,
        LOCATION,
        job_body(supervisedTuningSpec={"trainingDatasetUri": "gs://demo-bucket/train.jsonl"}),
    )
    emu.advance(1000)
    metrics = vertex.read_tuning_metrics(job.name)
    assert metrics.train_total_loss is not None
    assert metrics.eval_total_loss is None and metrics.eval_accuracy is None


def test_v1beta1_paths_are_served(emu: Emulator) -> None:
    from google_helpers import FAST_RETRY, TOKEN

    from controller.google import StaticTokenAuth

    with VertexClient(
        base_url=emu.url, auth=StaticTokenAuth(TOKEN), api_version="v1beta1", retry=FAST_RETRY
    ) as beta:
        job = beta.create_tuning_job(PROJECT, LOCATION, job_body())
        assert beta.get_tuning_job(job.name).name == job.name
    assert emu.requests("tuningJobs.get")[0].path.startswith("/v1beta1/")


def test_listing_through_v1beta1_reads_where_a_pending_job_is(vertex: VertexClient, emu: Emulator) -> None:
    """v1 has no tuningJobState; the same list through v1beta1 has it (what the operator's poller uses)."""
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body(labels={"uid": "z1"}))
    emu.hold_job(job.name, "TUNING_JOB_STATE_WAITING_FOR_CAPACITY")
    (v1,) = vertex.find_tuning_jobs_by_labels(PROJECT, LOCATION, {"uid": "z1"})
    (beta,) = vertex.find_tuning_jobs_by_labels(PROJECT, LOCATION, {"uid": "z1"}, version="v1beta1")
    assert v1.tuning_job_state is None
    assert beta.name == job.name and beta.tuning_job_state == "TUNING_JOB_STATE_WAITING_FOR_CAPACITY"
    assert [r.path.split("/")[1] for r in emu.requests("tuningJobs.list")][-2:] == ["v1", "v1beta1"]


def test_every_call_says_it_comes_from_vertexops(emu: Emulator) -> None:
    # Cloud Audit Logs show the caller's User-Agent: a platform team finds the operator's calls by it.
    with VertexClient(base_url=emu.url, auth=StaticTokenAuth(TOKEN)) as vertex:
        vertex.list_tuning_jobs(PROJECT, LOCATION)
    assert [r.user_agent for r in emu.requests("tuningJobs.list")] == [f"vertexops/{version('vertexops')}"]


def test_finding_by_labels_in_an_empty_location_finds_nothing(vertex: VertexClient, emu: Emulator) -> None:
    # The answer the create path waits for before it creates: "no such job", not an error.
    assert vertex.find_tuning_jobs_by_labels(PROJECT, LOCATION, {"uid": "none"}) == []
    emu.add_fault("status", "tuningJobs.list", status=400, times=1, message="Unsupported filter.")
    assert vertex.find_tuning_jobs_by_labels(PROJECT, LOCATION, {"uid": "none"}) == []
