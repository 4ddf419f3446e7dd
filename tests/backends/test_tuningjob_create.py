"""The call that creates a tuning job is the only Google call of the reconcile that makes it."""

from __future__ import annotations

from typing import Any

from e2e.support import tuning_job

from controller.backends.tuningjob import TuningJobBackend, VertexSettings
from controller.google.vertex import VertexClient
from controller.testenv.google_credentials import inspector_auth
from emulator.config import EmulatorConfig
from emulator.server import Emulator

PROJECT = "create-test"


def _resource(name: str) -> dict[str, Any]:
    """A TuningJob as the operator's cache holds it after the intent write (what `create` is given)."""
    obj = tuning_job(name)
    obj["metadata"].update(namespace="team-a", uid=f"uid-of-{name}", resourceVersion="7")
    return obj


def test_a_job_running_at_once_has_its_metrics_read_at_its_next_poll_not_by_the_create() -> None:
    # No pending phase: the job the create returns is RUNNING with its experiment, as it can be on Vertex.
    config = EmulatorConfig(time_scale=1, pending_seconds=0, step_seconds=60, total_steps=100)
    with Emulator(config) as emu, VertexClient(base_url=emu.url, auth=inspector_auth(emu)) as client:
        backend = TuningJobBackend(client, VertexSettings(default_project=PROJECT))
        obj = _resource("now")

        created = backend.create(obj)

        assert created.status["state"] == "JOB_STATE_RUNNING"
        assert created.status.get("experiment"), "an experiment to read metrics from exists already"
        assert [r.method for r in emu.requests()] == ["tuningJobs.create"]
        assert "latestMetrics" not in created.status

        # The next observation (the job's first poll) does read them: the one-time look-ups of its series.
        emu.clear_requests()
        obj["status"] = created.status
        backend.observe(obj)
        assert emu.count("contexts.get") == 1
