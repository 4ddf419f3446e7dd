"""Every error class, and which calls are retried, against the emulator's fault injection."""

from __future__ import annotations

import httpx
import pytest
from google_helpers import FAST_RETRY, LOCATION, PROJECT, TOKEN, Calls, job_body, model_body

from controller.google import (
    AlreadyExistsError,
    FailedPreconditionError,
    GeminiClient,
    GoogleAPIError,
    InvalidArgumentError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    StaticTokenAuth,
    TransportError,
    UnauthenticatedError,
    VertexClient,
)
from controller.google.errors import parse_error_body, parse_retry_after_header
from emulator import Emulator

NO_RETRY = RetryPolicy(max_attempts=1)


def _vertex(emu: Emulator, **kwargs: object) -> VertexClient:
    options: dict[str, object] = {"auth": StaticTokenAuth(TOKEN), "retry": FAST_RETRY}
    options.update(kwargs)
    return VertexClient(base_url=emu.url, **options)  # type: ignore[arg-type]


def _job(vertex: VertexClient) -> str:
    return vertex.create_tuning_job(PROJECT, LOCATION, job_body()).name


# -- retries ------------------------------------------------------------------------------------------------


def test_a_503_then_success_is_retried(vertex: VertexClient, emu: Emulator, calls: Calls) -> None:
    name = _job(vertex)
    emu.add_fault("status", "tuningJobs.get", status=503, times=1)
    assert vertex.get_tuning_job(name).name == name
    assert [r.status for r in emu.requests("tuningJobs.get")] == [503, 200]
    assert calls.statuses("tuningJobs.get") == [503, 200]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_every_transient_status_is_retried_on_reads(vertex: VertexClient, emu: Emulator, status: int) -> None:
    _job(vertex)
    emu.add_fault("status", "tuningJobs.list", status=status, times=2, retry_after_seconds=0)
    assert len(vertex.list_tuning_jobs(PROJECT, LOCATION)) == 1
    assert [r.status for r in emu.requests("tuningJobs.list")] == [status, status, 200]


def test_create_is_never_retried(vertex: VertexClient, emu: Emulator, calls: Calls) -> None:
    emu.add_fault("status", "tuningJobs.create", status=503, times=1)
    with pytest.raises(ServerError) as caught:
        vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    assert caught.value.attempts == 1
    assert emu.count("tuningJobs.create") == 1
    assert calls.statuses("tuningJobs.create") == [503]
    assert vertex.list_tuning_jobs(PROJECT, LOCATION) == []


def test_create_is_not_retried_after_a_dropped_connection(vertex: VertexClient, emu: Emulator) -> None:
    emu.add_fault("drop", "tuningJobs.create", times=1)
    with pytest.raises(TransportError) as caught:
        vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    assert caught.value.http_status is None and caught.value.retryable
    assert emu.count("tuningJobs.create") == 1


def test_reads_are_retried_after_a_dropped_connection(
    vertex: VertexClient, emu: Emulator, calls: Calls
) -> None:
    name = _job(vertex)
    emu.add_fault("drop", "tuningJobs.get", times=1)
    assert vertex.get_tuning_job(name).name == name
    assert calls.statuses("tuningJobs.get") == [None, 200]


def test_cancel_and_metrics_reads_are_retried(vertex: VertexClient, emu: Emulator) -> None:
    name = _job(vertex)
    emu.advance(1000)
    emu.add_fault("status", "contexts.*", status=503, times=1)
    emu.add_fault("status", "tensorboards.batchRead", status=500, times=1)
    assert vertex.read_tuning_metrics(name).train_total_loss is not None
    other = _job(vertex)
    emu.add_fault("status", "tuningJobs.cancel", status=503, times=1)
    vertex.cancel_tuning_job(other)
    assert [r.status for r in emu.requests("tuningJobs.cancel")] == [503, 200]


def test_gemini_create_with_an_id_is_retried_but_without_one_is_not(
    gemini: GeminiClient, emu: Emulator
) -> None:
    emu.add_fault("status", "tunedModels.create", status=503, times=1)
    assert gemini.create_tuned_model(model_body(), tuned_model_id="retried").name.startswith(
        "tunedModels/retried/"
    )
    assert emu.count("tunedModels.create") == 2
    emu.clear_requests()
    emu.add_fault("status", "tunedModels.create", status=503, times=1)
    with pytest.raises(ServerError):
        gemini.create_tuned_model(model_body())
    assert emu.count("tunedModels.create") == 1


def test_gemini_patch_and_delete_are_retried(gemini: GeminiClient, emu: Emulator) -> None:
    gemini.create_tuned_model(model_body(), tuned_model_id="idempotent")
    emu.add_fault("status", "tunedModels.patch", status=503, times=1)
    gemini.patch_tuned_model("idempotent", {"description": "d"}, ["description"])
    emu.add_fault("drop", "tunedModels.delete", times=1)
    gemini.delete_tuned_model("idempotent")
    assert [r.status for r in emu.requests("tunedModels.patch")] == [503, 200]
    assert [r.status for r in emu.requests("tunedModels.delete")] == [None, 200]


def test_attempts_are_bounded(vertex: VertexClient, emu: Emulator) -> None:
    name = _job(vertex)
    emu.add_fault("status", "tuningJobs.get", status=503)
    with pytest.raises(ServerError) as caught:
        vertex.get_tuning_job(name)
    assert caught.value.attempts == FAST_RETRY.max_attempts
    assert emu.count("tuningJobs.get") == FAST_RETRY.max_attempts


def test_retry_after_is_honoured(emu: Emulator) -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.001, max_retry_after=10.0)
    with _vertex(emu, retry=policy, sleep=waits.append) as vertex:
        name = _job(vertex)
        emu.add_fault("status", "tuningJobs.get", status=429, times=1, retry_after_seconds=3)
        vertex.get_tuning_job(name)
    assert waits == [3.0]  # from RetryInfo.retryDelay "3s" (the Retry-After header agrees)


def test_retry_after_beyond_the_total_budget_gives_up(emu: Emulator) -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_attempts=5, initial_delay=0.001, total_timeout=1.0, max_retry_after=30.0)
    with _vertex(emu, retry=policy, sleep=waits.append) as vertex:
        name = _job(vertex)
        emu.add_fault("status", "tuningJobs.get", status=429, times=1, retry_after_seconds=20)
        with pytest.raises(RateLimitedError) as caught:
            vertex.get_tuning_job(name)
    assert waits == [] and caught.value.retry_after == 20.0


def test_timeouts_become_transport_errors(emu: Emulator) -> None:
    with _vertex(emu, timeout=0.2, retry=RetryPolicy(max_attempts=2, initial_delay=0.001)) as vertex:
        name = _job(vertex)
        emu.add_fault("latency", "tuningJobs.get", latency_seconds=1.0, times=2)
        with pytest.raises(TransportError) as caught:
            vertex.get_tuning_job(name)
    assert caught.value.status == "DEADLINE_EXCEEDED" and caught.value.attempts == 2


def test_backoff_grows_and_stays_within_bounds() -> None:
    policy = RetryPolicy(initial_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0.5)
    for retry, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        delay = policy.backoff(retry)
        assert ceiling * 0.5 <= delay <= ceiling


def test_observer_errors_do_not_break_calls(emu: Emulator) -> None:
    def broken(api: str, method: str, status: int | None, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    with _vertex(emu, observer=broken) as vertex:
        assert vertex.get_tuning_job(_job(vertex)).state == "JOB_STATE_PENDING"


def test_observer_sees_api_method_status_and_time(vertex: VertexClient, calls: Calls) -> None:
    name = _job(vertex)
    vertex.get_tuning_job(name)
    assert [(a, m, s) for a, m, s, _ in calls.items] == [
        ("aiplatform", "tuningJobs.create", 200),
        ("aiplatform", "tuningJobs.get", 200),
    ]
    assert all(seconds >= 0 for *_, seconds in calls.items)


# -- error classes ------------------------------------------------------------------------------------------


def test_error_classes_from_the_emulator(vertex: VertexClient, gemini: GeminiClient, emu: Emulator) -> None:
    name = _job(vertex)
    cases: list[tuple[str, dict[str, object], type[GoogleAPIError], int]] = [
        ("status", {"status": 400, "message": "Bad field."}, InvalidArgumentError, 400),
        ("status", {"status": 404}, NotFoundError, 404),
        ("permission_denied", {}, PermissionDeniedError, 403),
        ("status", {"status": 401}, UnauthenticatedError, 401),
        ("status", {"status": 409}, AlreadyExistsError, 409),
        ("status", {"status": 429}, RateLimitedError, 429),
        ("status", {"status": 500}, ServerError, 500),
    ]
    with _vertex(emu, retry=NO_RETRY) as once:
        for kind, options, cls, http_status in cases:
            emu.add_fault(kind, "tuningJobs.get", times=1, **options)
            with pytest.raises(cls) as caught:
                once.get_tuning_job(name)
            assert caught.value.http_status == http_status, cls
            assert caught.value.method == "tuningJobs.get" and caught.value.resource == name


def test_failed_precondition_and_already_exists_from_real_handlers(
    vertex: VertexClient, gemini: GeminiClient, emu: Emulator
) -> None:
    name = _job(vertex)
    emu.advance(1000)
    with pytest.raises(FailedPreconditionError):
        vertex.cancel_tuning_job(name)
    gemini.create_tuned_model(model_body(), tuned_model_id="exists")
    with pytest.raises(AlreadyExistsError):
        gemini.create_tuned_model(model_body(), tuned_model_id="exists")


def test_malformed_json_is_a_malformed_response(vertex: VertexClient, emu: Emulator) -> None:
    emu.add_fault("malformed", "tuningJobs.list", times=1)
    with pytest.raises(MalformedResponseError) as caught:
        vertex.list_tuning_jobs(PROJECT, LOCATION)
    assert "not JSON" in str(caught.value) and caught.value.http_status == 200


def test_missing_fields_are_a_malformed_response(vertex: VertexClient, emu: Emulator) -> None:
    name = _job(vertex)
    emu.add_fault("missing_fields", "tuningJobs.get", times=1, fields=["name"])
    with pytest.raises(MalformedResponseError) as caught:
        vertex.get_tuning_job(name)
    assert "name" in str(caught.value)


def test_an_unknown_state_is_passed_through_as_not_terminal(vertex: VertexClient, emu: Emulator) -> None:
    name = _job(vertex)
    emu.add_fault("unknown_state", "tuningJobs.get", times=1, state="JOB_STATE_FROBNICATING")
    job = vertex.get_tuning_job(name)
    assert job.state == "JOB_STATE_FROBNICATING" and not job.is_terminal


def _mock_client(status: int, body: bytes, headers: dict[str, str] | None = None) -> VertexClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers or {})

    return VertexClient(
        base_url="http://mock.invalid",
        auth=StaticTokenAuth(TOKEN),
        retry=NO_RETRY,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def test_a_non_json_error_body_keeps_the_raw_text() -> None:
    client = _mock_client(502, b"<html><body>Bad Gateway from the proxy</body></html>")
    with pytest.raises(ServerError) as caught:
        client.get_tuning_job("projects/p/locations/l/tuningJobs/1")
    assert caught.value.status == "UNAVAILABLE"
    assert "Bad Gateway from the proxy" in str(caught.value)


def test_a_list_wrapped_error_is_unwrapped() -> None:
    body = b'[{"error": {"code": 404, "message": "Endpoint gone.", "status": "NOT_FOUND"}}]'
    client = _mock_client(404, body)
    with pytest.raises(NotFoundError) as caught:
        client.get_tuning_job("projects/p/locations/l/tuningJobs/1")
    assert caught.value.message.endswith("Endpoint gone.")
    assert parse_error_body(body.decode()) == {
        "code": 404,
        "message": "Endpoint gone.",
        "status": "NOT_FOUND",
    }


def test_an_empty_error_body_still_says_what_happened() -> None:
    client = _mock_client(503, b"", {"retry-after": "7"})
    with pytest.raises(ServerError) as caught:
        client.get_tuning_job("projects/p/locations/l/tuningJobs/1")
    assert "HTTP 503" in str(caught.value) and caught.value.retry_after == 7.0


def test_an_api_key_rejected_with_400_is_unauthenticated() -> None:
    body = (
        b'{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": '
        b'"INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", '
        b'"reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}'
    )
    client = _mock_client(400, body)
    with pytest.raises(UnauthenticatedError) as caught:
        client.get_tuning_job("projects/p/locations/l/tuningJobs/1")
    assert caught.value.reason == "API_KEY_INVALID"


def test_retry_after_header_forms() -> None:
    assert parse_retry_after_header("12") == 12.0
    assert parse_retry_after_header("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a past date: retry now
    assert parse_retry_after_header("soon") is None
    assert parse_retry_after_header(None) is None


def test_a_repeated_page_token_stops_paging() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"tuningJobs": [], "nextPageToken": "same"})

    client = VertexClient(
        base_url="http://mock.invalid",
        auth=StaticTokenAuth(TOKEN),
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(MalformedResponseError, match="repeated a nextPageToken"):
        client.list_tuning_jobs("p", "l")
