"""The calls that remove a tuned job's outputs (deletionPolicy Delete), against the emulator: read the
endpoint, undeploy the model, delete the endpoint, delete the model. A wrong name or method here deletes
nothing (an orphaned, billed endpoint) or reports the wrong call in the Google-call metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from google_helpers import LOCATION, PROJECT, Calls, job_body

from controller.google import (
    MalformedResponseError,
    NotFoundError,
    RetryPolicy,
    StaticTokenAuth,
    VertexClient,
)
from emulator import Emulator

ENDPOINT_SHAPE = "projects/{project}/locations/{location}/endpoints/{id}"


def _outputs(vertex: VertexClient, emu: Emulator) -> tuple[str, str]:
    """A succeeded job's endpoint and model (with its version)."""
    job = vertex.create_tuning_job(PROJECT, LOCATION, job_body())
    emu.advance(1000)
    done = vertex.get_tuning_job(job.name)
    assert done.tuned_model is not None
    return done.tuned_model.endpoint, done.tuned_model.model


def _output_calls(calls: Calls) -> list[tuple[str, str, int | None]]:
    return [
        (api, method, status)
        for api, method, status, _ in calls.items
        if not method.startswith("tuningJobs.")
    ]


def test_outputs_are_read_undeployed_and_deleted_in_order(
    vertex: VertexClient, emu: Emulator, calls: Calls
) -> None:
    endpoint, model = _outputs(vertex, emu)
    bare_model = model.split("@", 1)[0]

    found = vertex.get_endpoint(endpoint)
    assert found["name"] == endpoint
    assert [d["model"] for d in found["deployedModels"]] == [bare_model]
    undeploy = vertex.undeploy_model(endpoint, found["deployedModels"][0]["id"])
    assert undeploy["name"].startswith(f"{endpoint}/operations/")
    emu.advance(10)
    assert "deployedModels" not in vertex.get_endpoint(endpoint)
    assert "/operations/" in vertex.delete_endpoint(endpoint)["name"]
    emu.advance(10)
    with pytest.raises(NotFoundError) as gone:
        vertex.get_endpoint(endpoint)
    assert (gone.value.method, gone.value.resource) == ("endpoints.get", endpoint)

    assert vertex.get_model(model)["name"] == bare_model
    assert "/operations/" in vertex.delete_model(bare_model)["name"]
    emu.advance(10)
    with pytest.raises(NotFoundError) as model_gone:
        vertex.get_model(model)
    assert (model_gone.value.method, model_gone.value.resource) == ("models.get", model)

    assert _output_calls(calls) == [
        ("aiplatform", "endpoints.get", 200),
        ("aiplatform", "endpoints.undeployModel", 200),
        ("aiplatform", "endpoints.get", 200),
        ("aiplatform", "endpoints.delete", 200),
        ("aiplatform", "endpoints.get", 404),
        ("aiplatform", "models.get", 200),
        ("aiplatform", "models.delete", 200),
        ("aiplatform", "models.get", 404),
    ]


def test_undeploying_a_model_that_is_not_deployed_names_the_endpoint(
    vertex: VertexClient, emu: Emulator
) -> None:
    endpoint, _ = _outputs(vertex, emu)
    with pytest.raises(NotFoundError) as caught:
        vertex.undeploy_model(endpoint, "999")
    assert (caught.value.method, caught.value.resource) == ("endpoints.undeployModel", endpoint)
    assert "999" in str(caught.value)


Step = Callable[[VertexClient, str, str], Any]
STEPS: list[tuple[str, Step]] = [
    ("endpoints.get", lambda v, e, m: v.get_endpoint(e)),
    (
        "endpoints.undeployModel",
        lambda v, e, m: v.undeploy_model(e, v.get_endpoint(e)["deployedModels"][0]["id"]),
    ),
    ("models.get", lambda v, e, m: v.get_model(m)),
]


@pytest.mark.parametrize(("method", "step"), STEPS, ids=[m for m, _ in STEPS])
def test_each_output_call_is_retried_after_a_transient_error(
    vertex: VertexClient, emu: Emulator, calls: Calls, method: str, step: Step
) -> None:
    endpoint, model = _outputs(vertex, emu)
    emu.add_fault("status", method, status=503, times=1)
    assert isinstance(step(vertex, endpoint, model), dict)
    assert calls.statuses(method) == [503, 200]


def test_deletes_are_retried_after_a_transient_error(
    vertex: VertexClient, emu: Emulator, calls: Calls
) -> None:
    endpoint, model = _outputs(vertex, emu)
    vertex.undeploy_model(endpoint, vertex.get_endpoint(endpoint)["deployedModels"][0]["id"])
    emu.advance(10)
    emu.add_fault("status", "endpoints.delete", status=503, times=1)
    emu.add_fault("status", "models.delete", status=500, times=1)
    vertex.delete_endpoint(endpoint)
    vertex.delete_model(model.split("@", 1)[0])
    assert calls.statuses("endpoints.delete") == [503, 200]
    assert calls.statuses("models.delete") == [500, 200]


BAD_NAMES: list[tuple[str, Callable[[VertexClient], Any], str]] = [
    ("get_endpoint", lambda v: v.get_endpoint("endpoints/1"), f"endpoint must look like {ENDPOINT_SHAPE}"),
    (
        "undeploy_model",
        lambda v: v.undeploy_model("projects/p/locations/l/endpoints/1:x", "7"),
        f"endpoint must look like {ENDPOINT_SHAPE}",
    ),
    ("delete_endpoint", lambda v: v.delete_endpoint("1"), f"endpoint must look like {ENDPOINT_SHAPE}"),
    (
        "get_model",
        lambda v: v.get_model("models/1"),
        "model must look like projects/{project}/locations/{location}/models/{id}[@version]",
    ),
    (
        "delete_model",
        lambda v: v.delete_model("projects/p/locations/l/models/1/x"),
        "model must look like projects/{project}/locations/{location}/models/{id}",
    ),
]


@pytest.mark.parametrize(("name", "call", "message"), BAD_NAMES, ids=[n for n, _, _ in BAD_NAMES])
def test_a_malformed_output_name_is_refused_before_any_request(
    vertex: VertexClient, calls: Calls, name: str, call: Callable[[VertexClient], Any], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        call(vertex)
    assert str(caught.value).startswith(message + ", got '"), str(caught.value)
    assert calls.items == []


ENDPOINT = "projects/p/locations/us-central1/endpoints/5"
MODEL = "projects/p/locations/us-central1/models/9"
TYPED_ERROR_CALLS: list[tuple[str, str, Callable[[VertexClient], Any]]] = [
    ("endpoints.get", ENDPOINT, lambda v: v.get_endpoint(ENDPOINT)),
    ("endpoints.undeployModel", ENDPOINT, lambda v: v.undeploy_model(ENDPOINT, "7")),
    ("endpoints.delete", ENDPOINT, lambda v: v.delete_endpoint(ENDPOINT)),
    ("models.get", MODEL, lambda v: v.get_model(MODEL)),
    ("models.delete", MODEL, lambda v: v.delete_model(MODEL)),
]


def _answering(response: httpx.Response) -> VertexClient:
    return VertexClient(
        base_url="http://vertex.invalid",
        auth=StaticTokenAuth("ya29.outputs-test"),
        retry=RetryPolicy(max_attempts=1),
        http_client=httpx.Client(transport=httpx.MockTransport(lambda request: response)),
    )


@pytest.mark.parametrize(
    ("method", "resource", "call"), TYPED_ERROR_CALLS, ids=[m for m, _, _ in TYPED_ERROR_CALLS]
)
def test_each_output_call_names_itself_and_its_resource_in_its_errors(
    method: str, resource: str, call: Callable[[VertexClient], Any]
) -> None:
    with (
        _answering(httpx.Response(200, json=[])) as vertex,
        pytest.raises(MalformedResponseError) as malformed,
    ):
        call(vertex)
    assert (malformed.value.method, malformed.value.resource) == (method, resource)
    assert (
        str(malformed.value)
        == f"malformed response from {method} on {resource}: expected a JSON object, got list"
    )
    gone = httpx.Response(404, json={"error": {"code": 404, "status": "NOT_FOUND", "message": "not found"}})
    with _answering(gone) as vertex, pytest.raises(NotFoundError) as missing:
        call(vertex)
    assert (missing.value.method, missing.value.resource) == (method, resource)
