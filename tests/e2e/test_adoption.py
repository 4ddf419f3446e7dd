"""Git is the source of truth: a cluster rebuilt from the same manifests pays for nothing twice.

Google keeps its state when a cluster is lost, so these tests share one emulator between real control planes:
cluster A runs jobs to every end state, is destroyed, and a fresh cluster B gets the same manifests. What B
may create is exactly what the adoption policy promises, checked on the emulator's own request log.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from controller.backends.remote_identity import IDENTITY_LABEL
from controller.crdgen import install_crds
from controller.google.vertex import VertexClient
from controller.testenv.controlplane import ControlPlane
from controller.testenv.google_credentials import inspector_auth
from controller.testenv.operator import OperatorProcess, grant_operator_rights
from controller.testenv.tools import resolve_tools
from e2e.conftest import FAST_OPERATOR_ARGS, OperatorFactory
from e2e.support import Resources, condition, is_true, tuned_model, tuning_job
from emulator.config import EmulatorConfig
from emulator.server import Emulator

PROJECT, LOCATION = "vertexops-test", "us-central1"
WALKTHROUGH = Path(__file__).resolve().parents[2] / "docs" / "identity.md"


def _walkthrough_checks() -> list[str]:
    """The `kubectl get` commands of the disaster-recovery walkthrough, as the page gives them."""
    page = WALKTHROUGH.read_text()
    section = page[page.index("## Disaster recovery") :]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [line.strip() for b in blocks for line in b.splitlines() if line.strip().startswith("kubectl get")]


class Cluster:
    """A control plane of its own with the CRDs, one namespace and an operator watching it."""

    def __init__(self, emulator: Emulator, namespace: str, log_dir: Path, *extra_args: str) -> None:
        self.emulator = emulator
        self.namespace = namespace
        self._stack = contextlib.ExitStack()
        self.plane = self._stack.enter_context(ControlPlane(tools=resolve_tools(install=True)))
        install_crds(self.plane.kubectl)
        api = self._stack.enter_context(self.plane.api_client())
        k8s.CoreV1Api(api).create_namespace({"metadata": {"name": namespace}})
        self.resources = Resources(api, namespace)
        self.operator = OperatorProcess(
            grant_operator_rights(self.plane),
            emulator.url,
            log_dir / f"operator-{uuid.uuid4().hex[:6]}.log",
            namespaces=[namespace],
            extra_args=[*FAST_OPERATOR_ARGS, *extra_args],
        )
        self._stack.callback(self.operator.stop)
        self.operator.start()

    def destroy(self) -> None:
        """The cluster is lost: operator, API server and etcd gone, nothing cleaned up remotely."""
        self._stack.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    config = EmulatorConfig(
        time_scale=50, pending_seconds=60, step_seconds=5, total_steps=20, cancel_seconds=1
    )
    with Emulator(config) as emu:
        yield emu


def _remote_jobs(emulator: Emulator) -> list[Any]:
    with VertexClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        return client.list_tuning_jobs(PROJECT, LOCATION)


def _summary(obj: dict[str, Any]) -> dict[str, Any]:
    """What a user reads of a finished or running job: the fields a rebuilt cluster must show again."""
    status = obj["status"]
    return {
        "name": status.get("name"),
        "state": status.get("state"),
        "tunedModel": status.get("tunedModel"),
        "error": status.get("error"),
        "tuningDataStats": status.get("tuningDataStats"),
        "identity": status.get("identity"),
        "ready": (condition(obj, "Ready") or {}).get("status"),
        "stalled": (condition(obj, "Stalled") or {}).get("status"),
    }


def _manifests() -> list[dict[str, Any]]:
    return [
        tuning_job("dr-succeeded", publish={"configMapName": "dr-succeeded-model"}),
        tuning_job("dr-failed"),
        tuning_job("dr-cancelled"),
    ]


def _events(resources: Resources, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in resources.events(name) if e["reason"] == reason]


def test_a_rebuilt_cluster_adopts_every_job_and_creates_only_what_was_cancelled(
    emulator: Emulator, tmp_path: Path
) -> None:
    namespace = "ml-team"
    emulator.fail_jobs(display_name="dr-failed", message="Dataset validation failed: line 7 is not JSON.")
    a = Cluster(emulator, namespace, tmp_path)
    try:
        for manifest in _manifests():
            a.resources.create(manifest)
        a.resources.create(tuned_model("dr-model"), "tunedmodels")
        cancelled = a.resources.wait_for("dr-cancelled", lambda o: bool(o.get("status", {}).get("name")))
        with VertexClient(
            base_url=emulator.url, auth=inspector_auth(emulator)
        ) as client:  # someone cancels it in the console
            client.cancel_tuning_job(cancelled["status"]["name"])
        before = {
            "dr-succeeded": a.resources.wait_for("dr-succeeded", lambda o: is_true(o, "Ready"), timeout=90),
            "dr-failed": a.resources.wait_for("dr-failed", lambda o: is_true(o, "Stalled"), timeout=90),
            "dr-cancelled": a.resources.wait_for(
                "dr-cancelled", lambda o: o["status"].get("state") == "JOB_STATE_CANCELLED", timeout=90
            ),
        }
        model_before = a.resources.wait_for(
            "dr-model", lambda o: is_true(o, "Ready"), timeout=90, plural="tunedmodels"
        )
        # A job still running when the cluster is lost: slow time down so it outlives cluster A.
        emulator.set_time_scale(1)
        a.resources.create(tuning_job("dr-running"))
        a.resources.wait_for("dr-running", lambda o: bool(o.get("status", {}).get("name")))
        emulator.advance(61)
        before["dr-running"] = a.resources.wait_for(
            "dr-running", lambda o: o.get("status", {}).get("state") == "JOB_STATE_RUNNING", timeout=60
        )
    finally:
        a.destroy()
    assert emulator.count("tuningJobs.create") == 4

    b = Cluster(emulator, namespace, tmp_path)
    try:
        for manifest in [*_manifests(), tuning_job("dr-running")]:
            b.resources.create(manifest)
        b.resources.create(tuned_model("dr-model"), "tunedmodels")
        after = {
            "dr-succeeded": b.resources.wait_for("dr-succeeded", lambda o: is_true(o, "Ready"), timeout=60),
            "dr-failed": b.resources.wait_for("dr-failed", lambda o: is_true(o, "Stalled"), timeout=60),
            "dr-running": b.resources.wait_for(
                "dr-running", lambda o: o.get("status", {}).get("state") == "JOB_STATE_RUNNING", timeout=60
            ),
        }
        # Succeeded, failed and running jobs are adopted as they were; nothing is created for them.
        for name in ("dr-succeeded", "dr-failed", "dr-running"):
            assert _summary(after[name]) == _summary(before[name]), name
            assert after[name]["metadata"]["uid"] != before[name]["metadata"]["uid"]
            adopted = _events(b.resources, name, "Adopted")
            assert adopted and "identity" in adopted[0]["message"], b.resources.events(name)
        assert after["dr-failed"]["status"]["error"]["message"].startswith("Dataset validation failed")
        config_map = b.resources.core.read_namespaced_config_map("dr-succeeded-model", namespace)
        assert config_map.data["tuningJob"] == before["dr-succeeded"]["status"]["name"]
        assert config_map.data["endpoint"] == before["dr-succeeded"]["status"]["tunedModel"]["endpoint"]
        assert after["dr-succeeded"]["status"]["latestMetrics"]["trainTotalLoss"] > 0

        # The cancelled job is the one thing created again: the manifest still asks for it to run.
        rerun = b.resources.wait_for(
            "dr-cancelled", lambda o: bool(o.get("status", {}).get("name")), timeout=60
        )
        assert rerun["status"]["name"] != before["dr-cancelled"]["status"]["name"]
        assert rerun["status"]["identity"] == before["dr-cancelled"]["status"]["identity"]
        assert emulator.count("tuningJobs.create") == 5

        # The walkthrough's checks, run as docs/identity.md gives them, say the same.
        checks = _walkthrough_checks()
        assert len(checks) == 3, checks
        listed, adopted, created = (b.plane.kubectl(*shlex.split(c)[1:]).stdout for c in checks)
        assert all(name in listed for name in ("dr-succeeded", "dr-failed", "dr-running", "dr-cancelled"))
        assert sorted(re.findall(r"tuningjob/(dr-[a-z]+)", adopted)) == [
            "dr-failed",
            "dr-running",
            "dr-succeeded",
        ], adopted
        assert re.findall(r"tuningjob/(dr-[a-z]+)", created) == ["dr-cancelled"], created

        # A TunedModel's ID is its identity: found with one get, never created again.
        model_after = b.resources.wait_for(
            "dr-model", lambda o: is_true(o, "Ready"), timeout=60, plural="tunedmodels"
        )
        assert model_after["status"]["name"] == model_before["status"]["name"]
        assert emulator.count("tunedModels.create") == 1
        assert _events(b.resources, "dr-model", "Adopted")

        # The adopted running job is followed to its end in cluster B, and the re-created one runs too.
        emulator.set_time_scale(50)
        done = b.resources.wait_for("dr-running", lambda o: is_true(o, "Ready"), timeout=90)
        assert done["status"]["name"] == before["dr-running"]["status"]["name"]
        b.resources.wait_for("dr-cancelled", lambda o: is_true(o, "Ready"), timeout=90)
        assert emulator.count("tuningJobs.create") == 5
    finally:
        b.destroy()

    # Every remote job carries the identity label beside the UID label.
    identities = [job.labels.get(IDENTITY_LABEL) for job in _remote_jobs(emulator)]
    assert len(identities) == 5 and all(identities)


def test_a_fleet_name_gives_each_cluster_jobs_of_its_own(emulator: Emulator, tmp_path: Path) -> None:
    a = Cluster(emulator, "ml-team", tmp_path, "--fleet-name=staging")
    try:
        a.resources.create(tuning_job("per-cluster"))
        first = a.resources.wait_for("per-cluster", lambda o: is_true(o, "Ready"), timeout=90)
    finally:
        a.destroy()
    b = Cluster(emulator, "ml-team", tmp_path, "--fleet-name=production")
    try:
        b.resources.create(tuning_job("per-cluster"))
        second = b.resources.wait_for("per-cluster", lambda o: is_true(o, "Ready"), timeout=90)
    finally:
        b.destroy()
    assert second["status"]["name"] != first["status"]["name"]
    assert second["status"]["identity"] != first["status"]["identity"]
    assert emulator.count("tuningJobs.create") == 2


@pytest.mark.usefixtures("crds")
def test_a_status_wiped_by_hand_is_adopted_back_not_recreated(
    namespace: str, resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    operator = start_operator()
    resources.create(tuning_job("wiped", testPrompts=[{"prompt": "hello there"}]))
    before = resources.wait_for("wiped", lambda o: is_true(o, "Ready"), timeout=90)
    operator.stop()  # a new process remembers nothing but what the cluster and Google hold
    resources.api.patch_namespaced_custom_object_status(
        "tuning.vertexops.dev", "v1alpha1", namespace, "tuningjobs", "wiped", {"status": None}
    )
    assert not (resources.get("wiped") or {}).get("status", {}).get("name")
    start_operator()
    after = resources.wait_for("wiped", lambda o: is_true(o, "Ready"), timeout=60)
    assert after["status"]["name"] == before["status"]["name"]
    assert after["status"]["tunedModel"] == before["status"]["tunedModel"]
    assert emulator.count("tuningJobs.create") == 1
    assert _events(resources, "wiped", "Adopted")


@pytest.mark.usefixtures("crds")
def test_orphaned_then_reapplied_is_adopted_and_adoption_never_creates_anew(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    start_operator()
    resources.create(tuning_job("orphaned", deletionPolicy="Orphan"))
    first = resources.wait_for("orphaned", lambda o: is_true(o, "Ready"), timeout=90)
    resources.delete("orphaned")
    resources.wait_gone("orphaned")

    # The same manifest applied again (a namespace re-created by Argo CD, a manual re-apply): adopted.
    resources.create(tuning_job("orphaned", deletionPolicy="Orphan"))
    again = resources.wait_for("orphaned", lambda o: is_true(o, "Ready"), timeout=60)
    assert again["metadata"]["uid"] != first["metadata"]["uid"]
    assert again["status"]["name"] == first["status"]["name"]
    assert emulator.count("tuningJobs.create") == 1
    assert emulator.count("tuningJobs.cancel") == 0

    # adoptionPolicy: Never asks for a new job even though one with this identity exists.
    resources.delete("orphaned")
    resources.wait_gone("orphaned")
    resources.create(tuning_job("orphaned", deletionPolicy="Orphan", adoptionPolicy="Never"))
    fresh = resources.wait_for("orphaned", lambda o: is_true(o, "Ready"), timeout=90)
    assert fresh["status"]["name"] != first["status"]["name"]
    assert emulator.count("tuningJobs.create") == 2


@pytest.mark.usefixtures("crds")
def test_a_job_created_outside_kubernetes_is_imported_by_name_and_never_created(
    namespace: str, resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    with VertexClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        job = client.create_tuning_job(
            PROJECT,
            LOCATION,
            {
                "baseModel": "gemini-2.5-flash",
                "supervisedTuningSpec": {"trainingDatasetUri": "gs://their-bucket/train.jsonl"},
                "tunedModelDisplayName": "made-in-the-console",
            },
        )
    start_operator()
    resources.create(
        {
            "apiVersion": "tuning.vertexops.dev/v1alpha1",
            "kind": "TuningJob",
            "metadata": {"name": "imported"},
            "spec": {
                "jobName": job.name,
                "baseModel": "gemini-2.5-flash",
                "testPrompts": [{"prompt": "are you there"}],
                "publish": {"configMapName": "imported-model"},
            },
        }
    )
    obj = resources.wait_for("imported", lambda o: is_true(o, "Ready"), timeout=90)
    assert obj["status"]["name"] == job.name
    assert obj["status"]["testPromptResults"][0]["responseText"]
    matched = condition(obj, "SpecMatched")
    assert matched is not None and matched["status"] == "True", matched
    config_map = resources.core.read_namespaced_config_map("imported-model", namespace)
    assert config_map.data["tuningJob"] == job.name
    assert emulator.count("tuningJobs.create") == 1  # ours above; the operator created nothing
    assert _events(resources, "imported", "Imported")

    # Deleting an imported job's resource leaves the job alone by default (it was not made here).
    resources.delete("imported")
    resources.wait_gone("imported")
    assert emulator.count("tuningJobs.cancel") == 0


@pytest.mark.usefixtures("crds")
def test_an_import_that_differs_from_its_spec_says_so_and_a_missing_one_stalls(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    emulator.set_time_scale(1)  # keep the job running: a running import is cancelled with its resource
    with VertexClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        job = client.create_tuning_job(
            PROJECT,
            LOCATION,
            {
                "baseModel": "gemini-2.5-flash",
                "supervisedTuningSpec": {
                    "trainingDatasetUri": "gs://their-bucket/train.jsonl",
                    "hyperParameters": {"epochCount": "3"},
                },
            },
        )
    start_operator()
    spec: dict[str, Any] = {
        "jobName": job.name,
        "baseModel": "gemini-2.0-flash-001",
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://their-bucket/train.jsonl",
            "hyperParameters": {"epochCount": 5},
        },
        "deletionPolicy": "Cancel",
    }
    resources.create(
        {
            "apiVersion": "tuning.vertexops.dev/v1alpha1",
            "kind": "TuningJob",
            "metadata": {"name": "odd"},
            "spec": spec,
        }
    )
    obj = resources.wait_for(
        "odd", lambda o: (condition(o, "SpecMatched") or {}).get("status") == "False", timeout=60
    )
    message = condition(obj, "SpecMatched")["message"]  # type: ignore[index]
    assert 'spec.baseModel is "gemini-2.0-flash-001" but the job has "gemini-2.5-flash"' in message
    assert "spec.supervisedTuningSpec.hyperParameters.epochCount is 5 but the job has 3" in message
    resources.wait_for_event("odd", "SpecMismatch", "Warning")
    assert obj["status"]["state"] == "JOB_STATE_PENDING"
    # With deletionPolicy: Cancel, deleting the resource cancels the imported job (still pending).
    resources.delete("odd")
    resources.wait_gone("odd", timeout=60)
    assert emulator.count("tuningJobs.cancel") == 1

    missing = job.name.rsplit("/", 1)[0] + "/999999999"
    resources.create(
        {
            "apiVersion": "tuning.vertexops.dev/v1alpha1",
            "kind": "TuningJob",
            "metadata": {"name": "missing"},
            "spec": {"jobName": missing},
        }
    )
    stalled = resources.wait_for("missing", lambda o: is_true(o, "Stalled"), timeout=60)
    assert condition(stalled, "Stalled")["reason"] == "NotFound"  # type: ignore[index]
    assert "spec.jobName" in condition(stalled, "Stalled")["message"]  # type: ignore[index]
    assert emulator.count("tuningJobs.create") == 1
