"""google-genai (Vertex mode, unmodified) against the emulator: tune, get until done, list, cancel, prompt.

The client is built as its documentation shows for Vertex AI, with only `http_options.base_url` pointing at
the emulator; both API versions it speaks are run (`v1beta1` is its default).
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from conftest import LOCATION, NUMBER, PROJECT
from google import genai
from google.genai import errors, types
from google.oauth2 import service_account

from controller.testenv.google_credentials import AdcCredentials, minted_tokens
from emulator import Emulator

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # tune() is marked experimental


def _client(emu: Emulator, credentials: service_account.Credentials, api_version: str) -> genai.Client:
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=credentials,
        http_options=types.HttpOptions(base_url=emu.url, api_version=api_version),
    )


def _tune(client: genai.Client, display_name: str, **config: Any) -> types.TuningJob:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return client.tunings.tune(
            base_model="gemini-2.5-flash",
            training_dataset=types.TuningDataset(gcs_uri=f"gs://demo-bucket/{display_name}/train.jsonl"),
            config=types.CreateTuningJobConfig(tuned_model_display_name=display_name, **config),
        )


def _until_ended(emu: Emulator, client: genai.Client, name: str) -> tuple[types.TuningJob, list[str]]:
    """Poll as the SDK's samples do, moving the emulator's clock between polls; returns the states seen."""
    seen: list[str] = []
    for _ in range(100):
        job = client.tunings.get(name=name)
        assert job.state is not None
        seen.append(job.state.name)
        if job.has_ended:
            return job, seen
        emu.advance(30)
    raise AssertionError(f"{name} did not end; states seen: {seen}")


@pytest.mark.parametrize("api_version", ["v1", "v1beta1"])
def test_tune_poll_until_succeeded_and_prompt_the_tuned_endpoint(
    emu: Emulator, credentials: service_account.Credentials, adc: AdcCredentials, api_version: str
) -> None:
    client = _client(emu, credentials, api_version)
    created = _tune(
        client,
        "support-bot",
        epoch_count=2,
        adapter_size=types.AdapterSize.ADAPTER_SIZE_FOUR,
        learning_rate_multiplier=0.5,
        labels={"team": "support"},
        validation_dataset=types.TuningValidationDataset(gcs_uri="gs://demo-bucket/validation.jsonl"),
    )
    assert created.name is not None
    assert created.name.startswith(f"projects/{NUMBER}/locations/{LOCATION}/tuningJobs/")
    assert created.state == types.JobState.JOB_STATE_PENDING
    assert created.base_model == "gemini-2.5-flash"
    assert created.labels == {"team": "support"}

    job, seen = _until_ended(emu, client, created.name)
    assert seen[0] == "JOB_STATE_PENDING" and "JOB_STATE_RUNNING" in seen
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.start_time is not None and job.end_time is not None and job.end_time > job.start_time
    spec = job.supervised_tuning_spec
    assert spec is not None and spec.hyper_parameters is not None
    assert spec.hyper_parameters.epoch_count == 2  # an int64 string on the wire, an int to the SDK
    assert spec.hyper_parameters.adapter_size == types.AdapterSize.ADAPTER_SIZE_FOUR
    assert spec.hyper_parameters.learning_rate_multiplier == 0.5
    assert spec.validation_dataset_uri == "gs://demo-bucket/validation.jsonl"
    stats = job.tuning_data_stats
    assert stats is not None and stats.supervised_tuning_data_stats is not None
    assert (stats.supervised_tuning_data_stats.tuning_step_count or 0) == 20
    tuned = job.tuned_model
    assert tuned is not None and tuned.model and tuned.endpoint
    assert tuned.model.endswith("@1")
    assert [c.epoch for c in tuned.checkpoints or []] == [1, 2]

    answer = client.models.generate_content(model=tuned.endpoint, contents="Where is my parcel?")
    assert answer.text and answer.text.startswith("[support-bot]")  # the emulator's tuned model speaks
    (prompt,) = emu.state.generations.records("endpoints.generateContent")
    assert prompt.model == tuned.endpoint
    assert prompt.contents == [{"role": "user", "parts": [{"text": "Where is my parcel?"}]}]
    assert answer.candidates and answer.candidates[0].finish_reason == types.FinishReason.STOP
    assert answer.usage_metadata is not None and (answer.usage_metadata.total_token_count or 0) > 0

    # Every call carried a token google-auth got from the emulator for this key, in the header.
    records = [r for r in emu.requests() if r.api == "vertex"]
    assert {r.path.split("/")[1] for r in records} == {api_version}
    assert all(r.status == 200 and r.credentials == ("bearer-header",) for r in records)
    assert {r.principal for r in records} == {adc.principal}
    assert len(minted_tokens(emu.url, adc.token_prefix)) == 1


@pytest.mark.parametrize("api_version", ["v1", "v1beta1"])
def test_list_pages_through_every_job_and_cancel_ends_one_cancelled(
    emu: Emulator, credentials: service_account.Credentials, api_version: str
) -> None:
    client = _client(emu, credentials, api_version)
    names = [_tune(client, f"job-{i}").name for i in range(3)]

    listed = [job.name for job in client.tunings.list(config=types.ListTuningJobsConfig(page_size=2))]
    assert listed == list(reversed(names))  # newest first, over two pages
    pages = emu.requests("tuningJobs.list")
    assert len(pages) == 2 and pages[0].query == "pageSize=2" and "pageToken=" in pages[1].query

    target = names[1]
    assert target is not None
    client.tunings.cancel(name=target)
    job, seen = _until_ended(emu, client, target)
    assert seen[0] == "JOB_STATE_CANCELLING"
    assert job.state == types.JobState.JOB_STATE_CANCELLED
    assert job.error is not None and job.error.code == 1  # google.rpc.Code CANCELLED inside the resource
    assert job.tuned_model is None

    # Cancelling it again is refused with Google's error body, which the SDK turns into its ClientError.
    with pytest.raises(errors.ClientError) as refused:
        client.tunings.cancel(name=target)
    assert refused.value.code == 400 and refused.value.status == "FAILED_PRECONDITION"


def test_an_unknown_job_is_a_404_the_sdk_reports_as_not_found(
    emu: Emulator, credentials: service_account.Credentials
) -> None:
    client = _client(emu, credentials, "v1")
    missing = f"projects/{NUMBER}/locations/{LOCATION}/tuningJobs/1234567890123456789"
    with pytest.raises(errors.ClientError) as caught:
        client.tunings.get(name=missing)
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"
    assert missing in (caught.value.message or "")


def test_without_the_endpoint_override_the_sdk_is_stopped_before_it_reaches_google(
    loopback_only: list[str], credentials: service_account.Credentials
) -> None:
    """The guard of every test here is real: the SDK's own default host is refused, never reached."""
    client = genai.Client(vertexai=True, project=PROJECT, location=LOCATION, credentials=credentials)
    with pytest.raises(Exception, match="reach only loopback"):
        client.tunings.get(name=f"projects/{NUMBER}/locations/{LOCATION}/tuningJobs/1")
    assert loopback_only == [f"{LOCATION}-aiplatform.googleapis.com"]
    loopback_only.clear()
