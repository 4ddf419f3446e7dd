"""deletionPolicy Delete removes a finished job's endpoints and tuned model in Vertex AI (the emulator);
Cancel and Orphan leave them. A real API server, the operator in its own process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.google.errors import NotFoundError
from controller.google.vertex import VertexClient
from controller.testenv.google_credentials import inspector_auth
from e2e.conftest import OperatorFactory
from e2e.support import Resources, is_true, tuning_job
from emulator.config import EmulatorConfig
from emulator.server import Emulator

FAST = EmulatorConfig(time_scale=50, pending_seconds=60, step_seconds=5, total_steps=20, cancel_seconds=10)
# Runs about 200 s of real time: a running job is surely still running when its deletion is seen.
SLOW_RUN = EmulatorConfig(
    time_scale=50, pending_seconds=60, step_seconds=500, total_steps=20, cancel_seconds=10
)


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """The e2e emulator (conftest's settings), or a test's own through indirect parametrization."""
    with Emulator(getattr(request, "param", FAST)) as emu:
        yield emu


def _exists(client: VertexClient, read: str, name: str) -> bool:
    try:
        getattr(client, read)(name)
    except NotFoundError:
        return False
    return True


def test_delete_removes_every_endpoint_and_the_model_and_cancel_or_orphan_keep_them(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    start_operator()
    policies = {"clean-delete": "Delete", "clean-cancel": "Cancel", "clean-orphan": "Orphan"}
    for name, policy in policies.items():
        resources.create(tuning_job(name, deletionPolicy=policy))
    outputs = {}
    for name in policies:
        ready = resources.wait_for(name, lambda o: is_true(o, "Ready"), timeout=120, what="Ready")
        tuned = ready["status"]["tunedModel"]
        endpoints = {
            tuned["endpoint"],
            *(c["endpoint"] for c in tuned.get("checkpoints", []) if "endpoint" in c),
        }
        outputs[name] = (tuned["model"], sorted(endpoints))

    with VertexClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        for model, endpoints in outputs.values():  # every output exists before any deletion
            assert _exists(client, "get_model", model.split("@")[0])
            assert all(_exists(client, "get_endpoint", e) for e in endpoints)
        for name in policies:
            resources.delete(name)
        for name in policies:
            resources.wait_gone(name, timeout=60)

        model, endpoints = outputs["clean-delete"]
        assert not _exists(client, "get_model", model.split("@")[0])
        assert not any(_exists(client, "get_endpoint", e) for e in endpoints)
        # In the order Vertex AI requires: undeploy, then delete the endpoint, then the model.
        calls = [r.method for r in emulator.requests() if r.status == 200 and r.method in _REMOVALS]
        assert calls[:1] == ["endpoints.undeployModel"] and calls[-1] == "models.delete", calls
        assert calls.index("endpoints.delete") < calls.index("models.delete")
        for kept in ("clean-cancel", "clean-orphan"):
            model, endpoints = outputs[kept]
            assert _exists(client, "get_model", model.split("@")[0])
            assert all(_exists(client, "get_endpoint", e) for e in endpoints)
    assert any(
        e["reason"] == "OutputsDeleted" and "deleted endpoint(s) and model" in e["message"]
        for e in resources.events("clean-delete")
    )


_REMOVALS = ("endpoints.undeployModel", "endpoints.delete", "models.delete")


@pytest.mark.parametrize("emulator", [SLOW_RUN], indirect=True, ids=["slow-run"])
def test_delete_cancels_a_running_job_first(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    start_operator()
    resources.create(tuning_job("clean-running", deletionPolicy="Delete"))
    running = resources.wait_for(
        "clean-running", lambda o: (o.get("status") or {}).get("state") == "JOB_STATE_RUNNING", what="running"
    )
    resources.delete("clean-running")
    resources.wait_gone("clean-running", timeout=60)
    with VertexClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        assert client.get_tuning_job(running["status"]["name"]).state == "JOB_STATE_CANCELLED"
