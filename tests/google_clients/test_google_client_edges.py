"""Edges of the Google clients that mutation testing found unguarded (see docs/mutation-testing.md).

Each test pins a behaviour whose silent change would cost money or leak a secret: the label filter that finds
a job before creating it again, the typed errors a caller branches on, the checks on credentials.
"""

from __future__ import annotations

import logging

import httpx
import pytest
from google.auth import credentials as ga_credentials
from google_helpers import FAST_RETRY, LOCATION, PROJECT, TOKEN

from controller.google import (
    ApiKeyAuth,
    CredentialsAuth,
    GoogleAPIError,
    MalformedResponseError,
    RetryPolicy,
    StaticTokenAuth,
    TransportError,
    UnauthenticatedError,
    VertexClient,
)
from controller.google.transport import Transport
from controller.google.vertex import label_filter, vertex_host
from emulator import Emulator

NO_RETRY = RetryPolicy(max_attempts=1)


def test_the_label_filter_escapes_values_and_joins_with_and() -> None:
    # Sorted by key, AIP-160 `AND` in upper case, quotes and backslashes escaped: a filter that does not
    # match the job's own labels would make the operator believe no job exists and pay for a second one.
    got = label_filter({"b-key": 'say "hi" \\ bye', "a_key": "plain"})
    assert got == 'labels.a_key="plain" AND labels.b-key="say \\"hi\\" \\\\ bye"'


@pytest.mark.parametrize("key", ["Upper", "1digit", "has space", "x" * 64])
def test_the_label_filter_refuses_keys_google_refuses(key: str) -> None:
    with pytest.raises(ValueError, match=r"label key .* must be lowercase letters, digits"):
        label_filter({key: "v"})


def _client(handler: object) -> VertexClient:
    return VertexClient(
        base_url="http://vertex.invalid",
        auth=StaticTokenAuth("ya29.edge-test-token"),
        retry=NO_RETRY,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),  # type: ignore[arg-type]
    )


def test_a_json_array_where_an_object_belongs_is_a_typed_malformed_response() -> None:
    name = f"projects/{PROJECT}/locations/{LOCATION}/metadataStores/default/contexts/ctx"
    with (
        _client(lambda request: httpx.Response(200, json=[1, 2])) as vertex,
        pytest.raises(MalformedResponseError) as caught,
    ):
        vertex.get_context(name)
    error = caught.value
    assert str(error) == f"malformed response from contexts.get on {name}: expected a JSON object, got list"
    assert (error.http_status, error.api, error.method, error.resource) == (
        200,
        "aiplatform",
        "contexts.get",
        name,
    )


@pytest.mark.parametrize(
    ("exc", "status", "reason"),
    [
        (httpx.ConnectTimeout("timed out"), "DEADLINE_EXCEEDED", "ConnectTimeout: timed out"),
        (httpx.ConnectError(""), "UNAVAILABLE", "ConnectError: no details"),
    ],
)
def test_a_failed_connection_is_a_typed_transport_error(exc: Exception, status: str, reason: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise exc

    name = f"projects/{PROJECT}/locations/{LOCATION}/tuningJobs/1"
    with _client(fail) as vertex, pytest.raises(TransportError) as caught:
        vertex.get_tuning_job(name)
    assert caught.value.status == status and caught.value.http_status is None
    assert str(caught.value) == f"transport error calling tuningJobs.get on {name}: {reason}"
    assert (caught.value.api, caught.value.method, caught.value.resource) == (
        "aiplatform",
        "tuningJobs.get",
        name,
    )


def test_empty_credentials_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match=r"^ApiKeyAuth needs a non-empty API key$"):
        ApiKeyAuth("")
    with pytest.raises(ValueError, match=r"^StaticTokenAuth needs a non-empty token$"):
        StaticTokenAuth("")


def test_reprs_name_the_kind_and_hide_the_secret() -> None:
    assert repr(ApiKeyAuth("k")) == "ApiKeyAuth(api_key=<redacted>)"
    assert repr(StaticTokenAuth("t")) == "StaticTokenAuth(token=<redacted>)"


@pytest.mark.parametrize(
    ("location", "host"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
        ("europe-west4", "https://europe-west4-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
        ("us", "https://aiplatform.us.rep.googleapis.com"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com"),
    ],
)
def test_each_location_goes_to_its_own_host(location: str, host: str) -> None:
    # A job must be created in the region its resource names (data residency, quota, price).
    assert vertex_host(location) == host
    client = VertexClient(auth=StaticTokenAuth("ya29.edge-test-token"))
    assert client.url(location, f"projects/p/locations/{location}/tuningJobs") == (
        f"{host}/v1/projects/p/locations/{location}/tuningJobs"
    )
    client.close()


def test_a_job_that_does_not_parse_is_a_typed_malformed_response_naming_the_job() -> None:
    name = f"projects/{PROJECT}/locations/{LOCATION}/tuningJobs/42"
    with (
        _client(
            lambda request: httpx.Response(200, json={"name": name, "createTime": "yesterday"})
        ) as vertex,
        pytest.raises(MalformedResponseError) as caught,
    ):
        vertex.get_tuning_job(name)
    error = caught.value
    assert str(error).startswith(f"malformed response from tuningJobs.get on {name}: createTime: "), str(
        error
    )
    assert (error.api, error.method, error.resource) == ("aiplatform", "tuningJobs.get", name)


def test_a_malformed_job_name_is_refused_with_the_shape_it_must_have() -> None:
    with _client(lambda request: httpx.Response(500)) as vertex, pytest.raises(ValueError) as caught:
        vertex.get_tuning_job("tuningJobs/42")
    assert str(caught.value) == (
        "tuning job name must look like projects/{project}/locations/{location}/tuningJobs/{id}, "
        "got 'tuningJobs/42'"
    )


PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
MALFORMED_CALLS = [
    (
        "tuningJobs.create",
        lambda v: v.create_tuning_job(PROJECT, LOCATION, {"baseModel": "gemini-2.5-flash"}),
    ),
    ("tuningJobs.list", lambda v: v.list_tuning_jobs_page(PROJECT, LOCATION)),
]


@pytest.mark.parametrize(("method", "call"), MALFORMED_CALLS, ids=[m for m, _ in MALFORMED_CALLS])
def test_a_create_or_list_answer_that_does_not_parse_names_the_call_and_the_parent(
    method: str, call: object
) -> None:
    bad = {"name": f"{PARENT}/tuningJobs/1", "createTime": "yesterday"}
    body = bad if method == "tuningJobs.create" else {"tuningJobs": [bad]}
    with (
        _client(lambda request: httpx.Response(200, json=body)) as vertex,
        pytest.raises(MalformedResponseError) as caught,
    ):
        call(vertex)  # type: ignore[operator]
    error = caught.value
    assert str(error).startswith(f"malformed response from {method} on {PARENT}: "), str(error)
    assert (error.api, error.method, error.resource) == ("aiplatform", method, PARENT)


def test_a_failed_list_names_the_parent() -> None:
    def not_found(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": 404, "status": "NOT_FOUND", "message": "no such"}})

    with _client(not_found) as vertex, pytest.raises(GoogleAPIError) as caught:
        vertex.list_tuning_jobs_page(PROJECT, LOCATION)
    assert (caught.value.method, caught.value.resource) == ("tuningJobs.list", PARENT)


def test_each_call_goes_to_the_host_of_its_location_and_a_base_url_keeps_no_trailing_slash() -> None:
    seen: list[str] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={})

    regional = VertexClient(
        auth=StaticTokenAuth("ya29.edge-test-token"),
        retry=NO_RETRY,
        http_client=httpx.Client(transport=httpx.MockTransport(record)),
    )
    with regional:
        regional.list_tuning_jobs_page(PROJECT, "europe-west4")
    based = VertexClient(
        base_url="http://vertex.invalid/",
        auth=StaticTokenAuth("ya29.edge-test-token"),
        retry=NO_RETRY,
        http_client=httpx.Client(transport=httpx.MockTransport(record)),
    )
    with based:
        based.list_tuning_jobs_page(PROJECT, LOCATION)
    assert seen == [
        f"https://europe-west4-aiplatform.googleapis.com/v1/projects/{PROJECT}/locations/europe-west4/tuningJobs",
        f"http://vertex.invalid/v1/{PARENT}/tuningJobs",
    ]


def test_an_answer_that_is_not_json_names_the_call_the_job_and_the_status() -> None:
    name = f"{PARENT}/tuningJobs/7"
    with (
        _client(lambda request: httpx.Response(200, text="<html>proxy error</html>")) as vertex,
        pytest.raises(MalformedResponseError) as caught,
    ):
        vertex.get_tuning_job(name)
    assert str(caught.value) == (
        f"malformed response from tuningJobs.get on {name}: "
        "HTTP 200 body is not JSON: '<html>proxy error</html>'"
    )
    assert (caught.value.method, caught.value.resource) == ("tuningJobs.get", name)


def test_a_call_with_its_own_timeout_uses_it_rather_than_the_clients(emu: Emulator) -> None:
    # generateContent has its own timeout (long by default); shorter than the emulator's delay here, while
    # the client's default would wait it out.
    model = f"{PARENT}/publishers/google/models/gemini-2.5-flash"
    emu.add_fault("latency", "publishers.models.generateContent", latency_seconds=1.5, times=1)
    with (
        VertexClient(
            base_url=emu.url, auth=StaticTokenAuth(TOKEN), retry=NO_RETRY, generate_timeout=0.3
        ) as vertex,
        pytest.raises(TransportError) as caught,
    ):
        vertex.generate_content(model, "hello")
    assert caught.value.status == "DEADLINE_EXCEEDED"


def test_a_retry_is_logged_with_the_call_and_the_attempt(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vertexops.google")
    emu.add_fault("status", "tuningJobs.list", status=503, times=1, retry_after_seconds=0)
    with VertexClient(base_url=emu.url, auth=StaticTokenAuth(TOKEN), retry=FAST_RETRY) as vertex:
        vertex.list_tuning_jobs(PROJECT, LOCATION)
    lines = [r.getMessage() for r in caplog.records if r.name == "vertexops.google"]
    assert len(lines) == 1 and lines[0].startswith(
        f"tuningJobs.list failed (HTTP 503 UNAVAILABLE, attempt 1 of {FAST_RETRY.max_attempts}); retrying in"
    ), lines
    caplog.clear()
    emu.add_fault("drop", "tuningJobs.list", times=1)
    with VertexClient(base_url=emu.url, auth=StaticTokenAuth(TOKEN), retry=FAST_RETRY) as vertex:
        vertex.list_tuning_jobs(PROJECT, LOCATION)
    dropped = [r.getMessage() for r in caplog.records if r.name == "vertexops.google"]
    assert len(dropped) == 1 and dropped[0].startswith("tuningJobs.list failed (UNAVAILABLE, attempt 1 of"), (
        dropped
    )


def test_a_token_rejected_twice_reports_both_attempts(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vertexops.google")
    auth = CredentialsAuth(_Rejected())
    with (
        VertexClient(base_url=emu.url, auth=auth, retry=NO_RETRY) as vertex,
        pytest.raises(UnauthenticatedError) as caught,
    ):
        vertex.list_tuning_jobs(PROJECT, LOCATION)
    assert caught.value.attempts == 2, "one fresh token, then no more"
    assert [r.status for r in emu.requests("tuningJobs.list")] == [401, 401]
    said = [r.getMessage() for r in caplog.records if r.name == "vertexops.google"]
    assert said == ["tuningJobs.list: credential rejected, retrying once with a fresh token"], said


class _Rejected(ga_credentials.Credentials):  # type: ignore[misc]
    """Always hands out a token the emulator never minted."""

    def refresh(self, request: object) -> None:
        self.token = "ya29.never-minted"
        self.expiry = None


def test_a_body_is_sent_as_json_with_its_content_type_and_a_read_sends_none() -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"name": f"{PARENT}/tuningJobs/1"})

    with _client(record) as vertex:
        vertex.cancel_tuning_job(f"{PARENT}/tuningJobs/1")
        vertex.get_tuning_job(f"{PARENT}/tuningJobs/1")
    cancel, get = seen
    assert (cancel.method, cancel.headers.get("content-type"), cancel.content) == (
        "POST",
        "application/json",
        b"{}",
    )
    assert (get.method, get.headers.get("content-type"), get.content) == ("GET", None, b"")


def test_a_client_closes_only_the_http_client_it_made() -> None:
    given = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json={})))
    VertexClient(base_url="http://vertex.invalid", auth=StaticTokenAuth("t"), http_client=given).close()
    assert not given.is_closed, "the caller's client stays open for the caller"
    given.close()
    own = VertexClient(base_url="http://vertex.invalid", auth=StaticTokenAuth("t"))
    made = own._transport._client
    own.close()
    assert made.is_closed


def test_every_call_is_observed_with_its_duration_even_when_the_connection_fails() -> None:
    seen: list[tuple[str, str, int | None, float]] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"name": f"{PARENT}/tuningJobs/1"})

    with VertexClient(
        base_url="http://vertex.invalid",
        auth=StaticTokenAuth("t"),
        retry=NO_RETRY,
        observer=lambda *call: seen.append(call),
        http_client=httpx.Client(transport=httpx.MockTransport(flaky)),
    ) as vertex:
        vertex.get_tuning_job(f"{PARENT}/tuningJobs/1")
        with pytest.raises(TransportError):
            vertex.cancel_tuning_job(f"{PARENT}/tuningJobs/1")
    assert [call[:3] for call in seen] == [
        ("aiplatform", "tuningJobs.get", 200),
        ("aiplatform", "tuningJobs.cancel", None),
    ]
    assert all(0.0 <= call[3] < 5.0 for call in seen), seen


def test_a_streamed_download_is_handed_over_unread() -> None:
    # The dataset preflight reads a file of gigabytes piece by piece; a response read whole here would hold
    # all of it in the operator's memory.
    transport = Transport(
        api="storage",
        auth=StaticTokenAuth("t"),
        retry=NO_RETRY,
        http_client=httpx.Client(
            transport=httpx.MockTransport(
                lambda request: httpx.Response(200, content=iter([b"a" * 10, b"b"]))
            )
        ),
    )
    response = transport.open_stream("objects.get", "http://storage.invalid/o/x?alt=media", retry=False)
    try:
        assert not response.is_stream_consumed
        assert b"".join(response.iter_bytes()) == b"a" * 10 + b"b"
    finally:
        response.close()
        transport.close()
