"""The emulator's IAM: google-auth's own impersonation code mints tenant tokens, and calls are judged by
their principal with Google's PERMISSION_DENIED bodies."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from controller.google.errors import PermissionDeniedError, UnauthenticatedError
from controller.google.vertex import VertexClient
from controller.tenancy.identity import impersonated_auth, static_source
from emulator import Emulator, EmulatorConfig

OPERATOR_TOKEN = "operator-own-token"
OPERATOR = "vertexops@ops-project.iam.gserviceaccount.com"
TEAM_A = "team-a@proj-team-a.iam.gserviceaccount.com"
TEAM_B = "team-b@proj-team-b.iam.gserviceaccount.com"
TRAINER = "trainer@proj-team-a.iam.gserviceaccount.com"


@pytest.fixture
def iam_emulator() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig(seed=3, time_scale=50)) as emu:
        emu.state.iam.register_token(OPERATOR_TOKEN, OPERATOR)
        emu.state.iam.grant(OPERATOR, impersonate=(TEAM_A,))
        emu.state.iam.grant(TEAM_A, projects=("proj-team-a",), buckets=("team-a-data",), act_as=(TRAINER,))
        emu.state.iam.grant(TRAINER, buckets=("team-a-data",))
        emu.state.iam.grant(TEAM_B, projects=("proj-team-b",), buckets=("team-b-data",))
        yield emu


def _client(emu: Emulator, target: str) -> VertexClient:
    auth = impersonated_auth(static_source(OPERATOR_TOKEN), target, iam_base_url=emu.url)
    return VertexClient(auth=auth, base_url=emu.url)


def _body(uri: str = "gs://team-a-data/tuning/train.jsonl", **extra: str) -> dict[str, object]:
    return {"baseModel": "gemini-2.5-flash", "supervisedTuningSpec": {"trainingDatasetUri": uri}, **extra}


def test_impersonated_calls_carry_the_tenants_principal(iam_emulator: Emulator) -> None:
    client = _client(iam_emulator, TEAM_A)
    job = client.create_tuning_job("proj-team-a", "us-central1", _body())
    assert client.list_tuning_jobs("proj-team-a", "us-central1")[0].name == job.name
    minted = iam_emulator.requests("serviceAccounts.generateAccessToken")
    assert [r.principal for r in minted] == [OPERATOR], "one token minted, by the operator, then cached"
    assert {r.principal for r in iam_emulator.requests("tuningJobs.create")} == {TEAM_A}
    assert {r.principal for r in iam_emulator.requests("tuningJobs.list")} == {TEAM_A}


def test_another_tenants_project_bucket_and_service_account_are_denied_as_google_does(
    iam_emulator: Emulator,
) -> None:
    client = _client(iam_emulator, TEAM_A)
    with pytest.raises(PermissionDeniedError) as project:
        client.create_tuning_job("proj-team-b", "us-central1", _body())
    assert (
        "Permission 'aiplatform.tuningJobs.create' denied on resource "
        "'//aiplatform.googleapis.com/projects/proj-team-b/locations/us-central1'" in project.value.message
    )
    with pytest.raises(PermissionDeniedError) as bucket:
        client.create_tuning_job("proj-team-a", "us-central1", _body("gs://team-b-data/private/train.jsonl"))
    assert "Permission 'storage.objects.get' denied" in bucket.value.message
    assert "buckets/team-b-data/objects/private/train.jsonl" in bucket.value.message
    with pytest.raises(PermissionDeniedError) as account:
        client.create_tuning_job("proj-team-a", "us-central1", _body(serviceAccount=TEAM_B))
    assert "Permission 'iam.serviceAccounts.actAs' denied" in account.value.message
    client.create_tuning_job("proj-team-a", "us-central1", _body(serviceAccount=TRAINER))
    assert len(iam_emulator.state.vertex.jobs_in("proj-team-b", "us-central1")) == 0


def test_impersonating_an_account_without_the_token_creator_grant_fails(iam_emulator: Emulator) -> None:
    raw = httpx.post(
        f"{iam_emulator.url}/v1/projects/-/serviceAccounts/{TEAM_B}:generateAccessToken",
        headers={"authorization": f"Bearer {OPERATOR_TOKEN}"},
        json={"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s"},
    )
    assert raw.status_code == 403
    error = raw.json()["error"]
    assert (error["code"], error["status"]) == (403, "PERMISSION_DENIED")
    assert (
        error["message"]
        == "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
    )
    assert error["details"][0]["reason"] == "IAM_PERMISSION_DENIED"
    with pytest.raises(UnauthenticatedError):
        _client(iam_emulator, TEAM_B).list_tuning_jobs("proj-team-b", "us-central1")


def test_an_unknown_token_is_unauthenticated_once_iam_is_on(iam_emulator: Emulator) -> None:
    raw = httpx.get(
        f"{iam_emulator.url}/v1/projects/proj-team-a/locations/us-central1/tuningJobs",
        headers={"authorization": "Bearer made-up"},
    )
    assert raw.status_code == 401 and raw.json()["error"]["status"] == "UNAUTHENTICATED"
