"""The console commands against the real API server, the operator and the emulator.

One namespace, one operator and the two samples `vertexops dev` applies (brought to Ready once, for the
whole package): the commands are then run as the user runs them, as child processes with a kubeconfig.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from console_support import API_KEY, CHUNK_SECONDS, PROJECT, TIME_SCALE, Console, sample
from kubernetes import client as k8s

from controller.google.vertex import EMULATOR_TOKEN
from controller.testenv.controlplane import ControlPlane
from controller.testenv.operator import OperatorProcess, grant_operator_rights
from emulator.config import EmulatorConfig
from emulator.server import Emulator


@pytest.fixture(scope="session")
def console(
    crds: ControlPlane, api_client: k8s.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    namespace = f"console-{uuid.uuid4().hex[:8]}"
    core = k8s.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": namespace}})
    config = EmulatorConfig(
        # `vertexops dev`'s job shape (so the README's recorded sessions can be replayed), 10x faster.
        time_scale=TIME_SCALE,
        pending_seconds=30,
        step_seconds=20,
        total_steps=60,
        gemini_step_seconds=10,
        stream_chunk_seconds=CHUNK_SECONDS,
        valid_credentials=[EMULATOR_TOKEN, API_KEY],
    )
    home = tmp_path_factory.mktemp("console")
    with Emulator(config) as emulator:
        operator = OperatorProcess(
            grant_operator_rights(crds, namespace="vertexops-console-operator"),
            emulator.url,
            home / "operator.log",
            project=PROJECT,
            namespaces=[namespace],
            extra_args=("--poll-min-seconds=0.3", "--poll-max-seconds=1", "--metrics-interval-seconds=0.3"),
        ).start()
        try:
            env = Console(crds, emulator, namespace, api_client)
            core.create_namespaced_secret(
                namespace,
                {"metadata": {"name": "gemini-key"}, "stringData": {"key": API_KEY}},
            )
            tuned = sample("tunedmodel.yaml")
            tuned["spec"]["apiKeySecretRef"] = {"name": "gemini-key", "key": "key"}
            env.create("tuningjobs", sample("tuningjob.yaml"))
            env.create("tunedmodels", tuned)
            env.wait_ready("tuningjobs", "support-assistant")
            env.wait_ready("tunedmodels", "product-one-liners")
            yield env
        finally:
            operator.stop()
            with contextlib.suppress(k8s.ApiException):
                core.delete_namespace(namespace)
