"""Run the operator the way a Deployment from the chart or the bundle would: its args, its environment.

There is no kubelet on the test control plane, so the chart's pods never start. Instead the operator runs
as a local process with the container's args and environment read from the Deployment the API server
holds, and with a kubeconfig holding a token of the Deployment's ServiceAccount, so it has exactly the
rights the chart granted. Only what a process outside the cluster cannot take from the pod is added: where
the API server is (the kubeconfig) and a free loopback port for /healthz, /readyz and /metrics.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controller.config import OPTIONS
from controller.testenv.controlplane import free_port
from controller.testenv.operator import OperatorProcess
from install.chart import container, env_of


class DeployedOperator(OperatorProcess):
    def __init__(
        self, kubeconfig: Path, deployment: dict[str, Any], log_path: Path, extra_args: Sequence[str] = ()
    ) -> None:
        env = env_of(deployment)
        # Google credentials come from the emulator the operator is aimed at, as the chart's user would mount
        # them: an ADC file whose token endpoint is that emulator.
        flags = dict(arg.split("=", 1) for arg in extra_args if arg.startswith("--") and "=" in arg)
        emulator_url = flags.get("--vertex-base-url") or env.get("VERTEXOPS_VERTEX_BASE_URL") or ""
        super().__init__(
            kubeconfig,
            vertex_url=emulator_url,
            log_path=log_path,
            env=env,
            google_credentials="service-account" if emulator_url else "none",
        )
        self.container_args = list(container(deployment)["args"])
        self.extra_args = list(extra_args)

    def argv(self) -> list[str]:
        self.http_port = free_port()
        return [
            sys.executable,
            "-m",
            "controller.cli",
            *self.container_args,
            f"--kubeconfig={self.kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--http-port={self.http_port}",
            *self.extra_args,
        ]

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> DeployedOperator:
        # Only the Deployment's variables: a VERTEXOPS_* left in the developer's shell must not leak in.
        ours = {option.env for option in OPTIONS}
        leaked = {name: os.environ.pop(name) for name in list(os.environ) if name in ours}
        try:
            super().start(wait_ready=wait_ready, timeout=timeout)
        finally:
            os.environ.update(leaked)
        return self
