"""Runs google-cloud-aiplatform, unmodified, against the emulator; started by test_aiplatform_sdk.py in the
SDK's own venv (tools/sdk-venv.sh), it prints what the SDK returned as one JSON object for the test to check.

Usage: python aiplatform_driver.py EMULATOR_URL KEY_FILE. Only the standard library, google-auth and the SDK
are imported here: this file does not run in the project's .venv.
"""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
import warnings
from typing import Any

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
refused: list[str] = []
_real_getaddrinfo = socket.getaddrinfo


def _loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
    """Every name but the emulator's loopback address is refused and reported (no metadata server, Google)."""
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name not in _LOOPBACK:
        refused.append(name)
        raise socket.gaierror(socket.EAI_NONAME, f"sdk contract tests reach only loopback, not {name}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _loopback_only
warnings.simplefilter("ignore")

import vertexai  # noqa: E402
from google.api_core import exceptions  # noqa: E402
from google.cloud import aiplatform_v1  # noqa: E402
from google.oauth2 import service_account  # noqa: E402
from vertexai.generative_models import GenerativeModel  # noqa: E402
from vertexai.tuning import sft  # noqa: E402

PROJECT, LOCATION = "demo-project", "us-central1"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def advance(url: str, seconds: float) -> None:
    request = urllib.request.Request(  # noqa: S310 - the loopback emulator's control API
        f"{url}/_emulator/clock",
        data=json.dumps({"advanceSeconds": seconds}).encode(),
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - the loopback emulator


def until_ended(url: str, job: sft.SupervisedTuningJob) -> list[str]:
    seen = []
    for _ in range(100):
        job.refresh()
        seen.append(job.state.name)
        if job.has_ended:
            return seen
        advance(url, 30)
    raise AssertionError(f"{job.resource_name} did not end: {seen}")


def main(url: str, key_file: str) -> dict[str, Any]:
    credentials = service_account.Credentials.from_service_account_file(key_file, scopes=[CLOUD_PLATFORM])
    vertexai.init(
        project=PROJECT, location=LOCATION, credentials=credentials, api_endpoint=url, api_transport="rest"
    )
    out: dict[str, Any] = {}
    job = sft.train(
        source_model="gemini-2.5-flash",
        train_dataset="gs://demo-bucket/train.jsonl",
        validation_dataset="gs://demo-bucket/validation.jsonl",
        epochs=2,
        adapter_size=4,
        learning_rate_multiplier=0.5,
        tuned_model_display_name="support-bot",
        labels={"team": "support"},
    )
    out["created"] = {"name": job.resource_name, "state": job.state.name}
    out["states"] = until_ended(url, job)
    hyper = job.gca_resource.supervised_tuning_spec.hyper_parameters
    out["hyperParameters"] = {
        "epochCount": hyper.epoch_count,
        "adapterSize": hyper.adapter_size.name,
        "learningRateMultiplier": hyper.learning_rate_multiplier,
    }
    out["tunedModel"] = {"model": job.tuned_model_name, "endpoint": job.tuned_model_endpoint_name}
    out["checkpoints"] = [
        {"id": c.checkpoint_id, "epoch": c.epoch, "step": c.step}
        for c in job.gca_resource.tuned_model.checkpoints
    ]
    out["stepCount"] = job.gca_resource.tuning_data_stats.supervised_tuning_data_stats.tuning_step_count

    second = sft.train(source_model="gemini-2.5-flash", train_dataset="gs://demo-bucket/second.jsonl")
    out["listed"] = [j.resource_name for j in sft.SupervisedTuningJob.list()]
    second.cancel()
    out["cancelStates"] = until_ended(url, second)
    out["cancelError"] = {
        "code": second.gca_resource.error.code,
        "message": second.gca_resource.error.message,
    }
    try:
        second.cancel()
        out["secondCancel"] = "accepted"
    except exceptions.GoogleAPICallError as error:
        out["secondCancel"] = {"type": type(error).__name__, "code": error.code, "message": error.message}

    answer = GenerativeModel(job.tuned_model_endpoint_name).generate_content("Where is my parcel?")
    out["answer"] = {
        "text": answer.text,
        "finishReason": answer.candidates[0].finish_reason.name,
        "totalTokens": answer.usage_metadata.total_token_count,
    }

    # The v1 GAPIC client (what `aiplatform` builds on), with paging of one job per page.
    client = aiplatform_v1.GenAiTuningServiceClient(
        credentials=credentials, transport="rest", client_options={"api_endpoint": url}
    )
    got = client.get_tuning_job(name=job.resource_name)
    out["v1Get"] = {"state": got.state.name, "endpoint": got.tuned_model.endpoint}
    pager = client.list_tuning_jobs(
        request=aiplatform_v1.ListTuningJobsRequest(
            parent=f"projects/{PROJECT}/locations/{LOCATION}", page_size=1
        )
    )
    out["v1List"] = [j.name for j in pager]
    try:
        client.get_tuning_job(name=f"projects/{PROJECT}/locations/{LOCATION}/tuningJobs/1")
        out["v1Missing"] = "found"
    except exceptions.GoogleAPICallError as error:
        out["v1Missing"] = {"type": type(error).__name__, "code": error.code}
    out["cleanup"] = clean_up(url, credentials, job.tuned_model_endpoint_name, job.tuned_model_name)
    return out


def clean_up(url: str, credentials: Any, endpoint: str, model: str) -> dict[str, Any]:
    """Undeploy, delete the endpoint, delete the model, through the v1 GAPIC clients and their LRO futures."""
    options = {"api_endpoint": url}
    endpoints = aiplatform_v1.EndpointServiceClient(
        credentials=credentials, transport="rest", client_options=options
    )
    models = aiplatform_v1.ModelServiceClient(
        credentials=credentials, transport="rest", client_options=options
    )
    out: dict[str, Any] = {}
    try:
        models.delete_model(name=model.split("@", maxsplit=1)[0])
        out["deleteDeployed"] = "accepted"
    except exceptions.GoogleAPICallError as error:
        out["deleteDeployed"] = {"type": type(error).__name__, "code": error.code}
    deployed = endpoints.get_endpoint(name=endpoint).deployed_models
    out["deployedModels"] = [{"id": d.id, "model": d.model} for d in deployed]
    undeploy = endpoints.undeploy_model(endpoint=endpoint, deployed_model_id=deployed[0].id)
    advance(url, 30)
    out["undeployResult"] = type(undeploy.result(timeout=60)).__name__
    out["undeployMetadata"] = type(undeploy.metadata).__name__
    deletion = endpoints.delete_endpoint(name=endpoint)
    advance(url, 30)
    deletion.result(timeout=60)
    out["endpointDeleted"] = deletion.done()
    model_deletion = models.delete_model(name=model.split("@", maxsplit=1)[0])
    advance(url, 30)
    model_deletion.result(timeout=60)
    out["modelDeleted"] = model_deletion.done()
    try:
        models.get_model(name=model.split("@", maxsplit=1)[0])
        out["modelAfter"] = "found"
    except exceptions.GoogleAPICallError as error:
        out["modelAfter"] = type(error).__name__
    return out


if __name__ == "__main__":
    result = main(sys.argv[1], sys.argv[2])
    result["refusedHosts"] = refused
    print(json.dumps(result))
