"""Google's refusals become conditions a user can act on; the job is never marked failed for them."""

from __future__ import annotations

from e2e.conftest import OperatorFactory
from e2e.support import Resources, condition, is_true, tuning_job
from emulator.server import Emulator


def test_permission_denied_stalls_with_the_permission_named(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    emulator.add_fault("permission_denied", "tuningJobs.create")
    start_operator()
    resources.create(tuning_job("no-rights"))

    obj = resources.wait_for("no-rights", lambda o: is_true(o, "Stalled"), what="Stalled=True")
    stalled = condition(obj, "Stalled")
    assert stalled is not None and stalled["reason"] == "PermissionDenied"
    assert "aiplatform.tuningJobs.create" in stalled["message"]
    synced = condition(obj, "Synced")
    assert synced is not None and synced["status"] == "False"
    assert condition(obj, "Ready")["status"] == "False"  # type: ignore[index]
    assert "state" not in obj["status"], "no job exists, so there is no job state to report"
    resources.wait_for_event("no-rights", "PermissionDenied", "Warning")


def test_vertex_validation_error_stalls_with_googles_message(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    start_operator()
    # The schema allows every adapter size; whether the base model supports one is Vertex's call.
    manifest = tuning_job("too-big-adapter")
    manifest["spec"]["supervisedTuningSpec"]["hyperParameters"]["adapterSize"] = "ADAPTER_SIZE_THIRTY_TWO"
    resources.create(manifest)

    obj = resources.wait_for("too-big-adapter", lambda o: is_true(o, "Stalled"), what="Stalled=True")
    stalled = condition(obj, "Stalled")
    assert stalled is not None and stalled["reason"] == "InvalidSpec"
    assert stalled["message"].endswith("The adapter size is not supported for this base model.")
    assert emulator.count("tuningJobs.create") == 1


def test_unreachable_api_shows_in_synced_and_the_job_still_succeeds(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    start_operator()
    resources.create(tuning_job("through-outage"))
    resources.wait_for(
        "through-outage", lambda o: bool((o.get("status") or {}).get("name")), what="job created"
    )
    outage = emulator.add_fault("status", "tuningJobs.*", status=503)
    obj = resources.wait_for(
        "through-outage",
        lambda o: (condition(o, "Synced") or {}).get("status") == "False",
        what="Synced=False during the outage",
    )
    assert condition(obj, "Synced")["reason"] == "APIError"  # type: ignore[index]
    assert not is_true(obj, "Stalled")
    emulator.remove_fault(outage.id)
    obj = resources.wait_for(
        "through-outage", lambda o: is_true(o, "Ready"), what="Ready=True after the outage"
    )
    assert condition(obj, "Synced")["status"] == "True"  # type: ignore[index]
    assert emulator.count("tuningJobs.create") == 1


def test_a_resource_that_cannot_be_created_is_stalled_and_still_deletes(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    # The operator below has no default project, and this TuningJob names none.
    start_operator("--project=")
    resources.create(tuning_job("no-project"))
    obj = resources.wait_for("no-project", lambda o: is_true(o, "Stalled"), what="Stalled=True")
    stalled = condition(obj, "Stalled")
    assert stalled is not None and stalled["reason"] == "InvalidSpec"
    assert stalled["message"].startswith("spec.projectID:")
    resources.delete("no-project")
    resources.wait_gone("no-project")
    assert emulator.count("tuningJobs.create") == 0
