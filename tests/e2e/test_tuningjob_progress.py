"""Where a running job really is (Vertex AI's v1beta1 sub-state) and the examples Vertex AI left out.

The operator in its own process, a real API server, the emulator as Vertex AI: a job the emulator holds
waiting for quota says so in `kubectl get` and in its conditions; a job with dropped examples records one
Warning event, however often it is polled.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from controller.testenv.controlplane import ControlPlane
from e2e.conftest import OperatorFactory
from e2e.support import Resources, condition, is_true, tuning_job
from emulator.config import EmulatorConfig
from emulator.server import Emulator

WAITING_FOR_QUOTA = "TUNING_JOB_STATE_WAITING_FOR_QUOTA"
PROCESSING_DATASET = "TUNING_JOB_STATE_PROCESSING_DATASET"


# Jobs stay pending about 70 s of real time, so a pending job can be held before it would start.
SLOW_START = EmulatorConfig(
    time_scale=50, pending_seconds=3600, step_seconds=5, total_steps=20, cancel_seconds=10
)
FAST = EmulatorConfig(time_scale=50, pending_seconds=60, step_seconds=5, total_steps=20, cancel_seconds=10)


@pytest.fixture
def emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """The e2e emulator (conftest's settings), or a test's own through indirect parametrization."""
    with Emulator(getattr(request, "param", FAST)) as emu:
        yield emu


@pytest.mark.parametrize("emulator", [SLOW_START], indirect=True, ids=["slow-start"])
def test_a_job_waiting_for_quota_says_so_in_kubectl_get_and_its_conditions(
    crds: ControlPlane,
    namespace: str,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    start_operator()
    resources.create(tuning_job("quota-bound"))

    # Act only on a state observed: the job exists and is processing its dataset (so it is pending).
    processing = resources.wait_for(
        "quota-bound",
        lambda o: (o.get("status") or {}).get("tuningJobState") == PROCESSING_DATASET,
        what="tuningJobState PROCESSING_DATASET",
    )
    emulator.hold_job(processing["status"]["name"], WAITING_FOR_QUOTA)

    held = resources.wait_for(
        "quota-bound",
        lambda o: (o.get("status") or {}).get("tuningJobState") == WAITING_FOR_QUOTA,
        what="tuningJobState WAITING_FOR_QUOTA",
    )
    assert held["status"]["state"] == "JOB_STATE_PENDING"
    reconciling = condition(held, "Reconciling")
    assert reconciling is not None and reconciling["status"] == "True"
    assert "waiting for quota" in reconciling["message"], reconciling
    ready = condition(held, "Ready")
    assert ready is not None and ready["status"] == "False" and "waiting for quota" in ready["message"]

    table = crds.kubectl("get", "tuningjob", "quota-bound", "-n", namespace)
    header, row = table.stdout.splitlines()[:2]
    columns = header.split()
    assert "SUB-STATE" in columns, table.stdout
    assert row.split()[columns.index("SUB-STATE")] == WAITING_FOR_QUOTA, table.stdout


def test_dropped_examples_give_one_warning_event_and_a_condition_message(
    namespace: str,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
    api_client: k8s.ApiClient,
) -> None:
    emulator.drop_examples(3, reason="The example has more than 131072 tokens.", display_name="lossy")
    start_operator()
    resources.create(tuning_job("lossy"))
    resources.create(tuning_job("complete"))

    done = resources.wait_for("lossy", lambda o: is_true(o, "Ready"), what="Ready")
    resources.wait_for("complete", lambda o: is_true(o, "Ready"), what="Ready")
    stats = done["status"]["tuningDataStats"]
    assert stats["totalTruncatedExampleCount"] == 3
    assert len(stats["truncatedExampleIndices"]) == len(stats["droppedExampleReasons"]) > 0
    assert stats["droppedExampleReasons"][0] == "The example has more than 131072 tokens."
    ready = condition(done, "Ready")
    assert ready is not None and "left 3 of" in ready["message"], ready
    assert "training examples out" in ready["message"]

    core = k8s.CoreV1Api(api_client)

    def dropped_events(name: str) -> list[k8s.CoreV1Event]:
        items = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
        return [e for e in items if e.reason == "ExamplesDropped"]

    # The job was polled several times while it ran with the count in its status: still one event, once.
    events = dropped_events("lossy")
    assert len(events) == 1 and events[0].type == "Warning" and (events[0].count or 1) == 1, events
    assert "left 3 of" in events[0].message
    assert dropped_events("complete") == []
    complete = resources.get("complete")
    assert complete is not None and "totalTruncatedExampleCount" not in complete["status"]["tuningDataStats"]
