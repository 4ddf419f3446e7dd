"""API-server faults: kube-apiserver stopped and restarted mid-run, etcd history compacted so the watch gets
410 Gone, and a user's label edits racing the operator's status writes, while jobs change state.

This module runs its own control plane: stopping the session's kube-apiserver would break every other test.
"""

from __future__ import annotations

import base64
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from e2e.support import Resources, tuning_job
from kubernetes import client as k8s

from controller.crdgen import install_crds
from controller.testenv.controlplane import ControlPlane
from controller.testenv.operator import grant_operator_rights
from controller.testenv.tools import resolve_tools
from emulator.config import EmulatorConfig
from emulator.server import Emulator
from reliability.scale import SCALE
from reliability.support import (
    Operators,
    Sampler,
    coherence_problems,
    duplicates,
    jobs_by_uid,
    state_of,
    wait_all,
)

ORDER = {"JOB_STATE_PENDING": 0, "JOB_STATE_RUNNING": 1, "JOB_STATE_SUCCEEDED": 2}


@pytest.fixture(scope="module")
def own_plane() -> Iterator[ControlPlane]:
    with ControlPlane(tools=resolve_tools(install=True)) as plane:
        install_crds(plane.kubectl)
        yield plane


@pytest.fixture
def plane_namespace(own_plane: ControlPlane) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    with own_plane.api_client() as api:
        k8s.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


class LabelHammer:
    """Edits a label on random resources as fast as the API server allows, keeping the last value that the
    server acknowledged per resource, so a lost user edit is detectable."""

    def __init__(self, plane: ControlPlane, namespace: str, names: list[str]) -> None:
        self.plane = plane
        self.namespace = namespace
        self.names = names
        self.acknowledged: dict[str, str] = {}
        self.writes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="label-hammer", daemon=True)

    def __enter__(self) -> LabelHammer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        rng = random.Random(11)
        api = self.plane.api_client()
        resources = Resources(api, self.namespace)
        counter = 0
        while not self._stop.is_set():
            if not self.names:
                self._stop.wait(0.01)
                continue
            # Most edits go to the newest resource, whose first writes by the operator (finalizer,
            # create intent) carry a resourceVersion precondition that an edit in between makes fail.
            name = self.names[-1] if rng.random() < 0.8 else rng.choice(self.names)
            counter += 1
            try:
                resources.patch(name, {"metadata": {"labels": {"edited-by-user": f"v{counter}"}}})
                self.acknowledged[name] = f"v{counter}"
                self.writes += 1
            except Exception:  # outages are the point of this test; keep hammering
                self.failures += 1
                self._stop.wait(0.2)
            self._stop.wait(0.005)
        api.close()


def _advance_etcd_revision(plane: ControlPlane) -> None:
    """Write a key outside the API server's prefix, so compaction surely passes the operator's revision."""
    key = base64.b64encode(b"/vertexops-test/revision-bump").decode()
    value = base64.b64encode(uuid.uuid4().hex.encode()).decode()
    httpx.post(
        f"{plane.etcd_url}/v3/kv/put", json={"key": key, "value": value}, timeout=10
    ).raise_for_status()


def test_apiserver_restarts_compaction_and_racing_label_edits_lose_no_status(
    own_plane: ControlPlane, plane_namespace: str, tmp_path: Path
) -> None:
    plane = own_plane
    outages = SCALE.apiserver_outages
    count = SCALE.apiserver_jobs
    # Jobs last ~ (12 s pending + 20 s running) per outage pair, so each outage falls while jobs move on.
    config = EmulatorConfig(
        time_scale=5 / outages, pending_seconds=60, step_seconds=5, total_steps=20, cancel_seconds=10, seed=3
    )
    names = [f"steady-{i:03d}" for i in range(count)]
    with Emulator(config) as emulator, plane.api_client() as admin:
        resources = Resources(admin, plane_namespace)
        operators = Operators(grant_operator_rights(plane), emulator, tmp_path, [plane_namespace])
        try:
            operators.start()
            created: list[str] = []
            with (
                Sampler(resources, tolerate_errors=True) as sampler,
                LabelHammer(plane, plane_namespace, created) as hammer,
            ):
                # Created while the edits already fly, so they race the operator's first writes too.
                uids = {}
                for name in names:
                    uids[name] = resources.create(tuning_job(name))["metadata"]["uid"]
                    created.append(name)
                    time.sleep(0.3)
                for _ in range(outages):
                    time.sleep(4)
                    plane.stop_apiserver()  # a plain outage: the watch must resume where it was
                    time.sleep(6)
                    plane.start_apiserver()
                    time.sleep(4)
                    plane.stop_apiserver()  # history compacted while away: the watch must get 410 and relist
                    _advance_etcd_revision(plane)
                    plane.compact_etcd()
                    time.sleep(3)
                    plane.start_apiserver()
                final = wait_all(
                    resources,
                    names,
                    lambda o: state_of(o) == "JOB_STATE_SUCCEEDED" and not coherence_problems(o),
                    timeout=240,
                    what="Ready after the API-server faults",
                )
                time.sleep(1)  # a few more label edits after the jobs ended
            logs = operators.logs()
            for proc in operators.started:
                assert proc.running, f"the operator exited:\n{proc.log_tail()}"
        finally:
            operators.stop_all()

        assert "watch history expired (410 Gone); relisting" in logs, "the compaction never caused a 410"
        assert "HTTP 409" in logs, "no write of the operator ever conflicted with a user's edit"
        assert hammer.writes > 50 and hammer.failures > 0, (hammer.writes, hammer.failures)
        assert duplicates(emulator) == {}
        remote = jobs_by_uid(emulator)
        for name in names:
            assert len(remote.get(uids[name], [])) == 1, name
            assert final[name]["status"]["name"] == remote[uids[name]][0].name
        # No status write ever went backwards (a lost update would show an older state after a newer one).
        assert sampler.errors, "the sampler never saw the API server down: were there outages?"
        for name in names:
            seen = [ORDER[s] for s in sampler.states(name) if s in ORDER]
            assert len(seen) >= 2, (name, sampler.states(name))  # seen at least pending and succeeded
            assert seen == sorted(seen), (name, sampler.states(name))
        # The user's edits all survived: each resource carries the last label value the server acknowledged.
        current = {o["metadata"]["name"]: o for o in (resources.get(n) for n in names) if o}
        for name, value in hammer.acknowledged.items():
            assert current[name]["metadata"]["labels"].get("edited-by-user") == value, name
