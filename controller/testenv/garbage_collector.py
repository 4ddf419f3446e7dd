"""Kubernetes' garbage collector for a bare control plane: kube-controller-manager with only that controller.

The GitOps engines delete what they prune the way every cluster expects: Argo CD with foreground
propagation by default (the API server marks the object with the `foregroundDeletion` finalizer, and only
the garbage collector removes it once the dependents are gone), Flux with background propagation (the
garbage collector deletes the dependents afterwards). Without the collector a pruned TuningJob would stay
Terminating forever after the operator had let it go. No other controller runs: the tests keep what the
bare control plane gives them (no namespace deletion, no ServiceAccount tokens controller).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from types import TracebackType

import httpx

from controller.testenv.controlplane import ControlPlane, free_port
from controller.testenv.process import Process, wait_ready


class GarbageCollector:
    """kube-controller-manager with `--controllers=garbage-collector-controller`, on loopback, for one
    control plane; `stop()` ends exactly the process `start()` began."""

    def __init__(self, control_plane: ControlPlane, binary: Path, workdir: Path | None = None) -> None:
        self.control_plane = control_plane
        self.binary = binary
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="vertexops-gc-"))
        self.port = free_port()
        self._process: Process | None = None

    def __enter__(self) -> GarbageCollector:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> GarbageCollector:
        kubeconfig = str(self.control_plane.kubeconfig)
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            str(self.binary),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--controllers=garbage-collector-controller",
            "--bind-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={self.workdir / 'certs'}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            "--profiling=false",
            "--v=1",
        ]
        self._process = Process("kube-controller-manager", argv, self.workdir / "kube-controller-manager.log")
        self._process.start()
        try:
            wait_ready(self._process, self._healthy, timeout=90.0)
        except BaseException:
            self.stop()
            raise
        return self

    def _healthy(self) -> bool:
        # Its serving certificate is self-signed, on loopback; /healthz needs no credentials.
        return httpx.get(f"https://127.0.0.1:{self.port}/healthz", verify=False, timeout=2).status_code == 200  # noqa: S501

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> list[int]:
        pid = self._process.pid if self._process is not None and self._process.running else None
        return [pid] if pid is not None else []

    def log_tail(self, lines: int = 40) -> str:
        return self._process.log_tail(lines) if self._process is not None else "(not started)"
