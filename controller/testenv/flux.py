"""Real Flux against a local control plane: source-controller and kustomize-controller.

Both run outside the cluster with `RUNTIME_NAMESPACE=flux-system` and the admin kubeconfig. The
source controller serves the artifacts it builds (tarballs of a Git revision) over HTTP on 127.0.0.1; it
advertises that same loopback address in each artifact's URL, which is where the kustomize controller
downloads them from. Metrics and health endpoints are on loopback too, leader election is off, and
`stop()` ends exactly the two processes `start()` began.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client as k8s

from controller.testenv.controlplane import ControlPlane, free_port
from controller.testenv.engine_process import EngineProcesses, apply_crds, ensure_namespace, http_ok
from controller.testenv.engine_tools import FluxTools, resolve_flux

NAMESPACE = "flux-system"
SOURCE = ("source.toolkit.fluxcd.io", "v1", "gitrepositories")
KUSTOMIZE = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")


class Flux:
    """Flux's source-controller and kustomize-controller for one control plane."""

    def __init__(
        self, control_plane: ControlPlane, tools: FluxTools | None = None, workdir: Path | None = None
    ) -> None:
        self.control_plane = control_plane
        self.tools = tools or resolve_flux()
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="vertexops-flux-"))
        self.storage_port = free_port()
        self._processes = EngineProcesses(control_plane.kubeconfig, self.workdir)

    def __enter__(self) -> Flux:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> Flux:
        try:
            apply_crds(self.control_plane, self.tools.crds)
            ensure_namespace(self.control_plane, NAMESPACE)
            storage = f"127.0.0.1:{self.storage_port}"
            (self.workdir / "storage").mkdir(parents=True, exist_ok=True)
            self._start(
                "source-controller",
                self.tools.source_controller,
                [
                    f"--storage-path={self.workdir / 'storage'}",
                    f"--storage-addr={storage}",
                    f"--storage-adv-addr={storage}",
                ],
            )
            self._start("kustomize-controller", self.tools.kustomize_controller, [])
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, name: str, binary: Path, extra: list[str]) -> None:
        health = free_port()
        argv = [
            str(binary),
            f"--metrics-addr=127.0.0.1:{free_port()}",
            f"--health-addr=127.0.0.1:{health}",
            "--enable-leader-election=false",
            "--log-level=info",
            *extra,
        ]
        readyz = f"http://127.0.0.1:{health}/readyz"
        self._processes.start(name, argv, lambda: http_ok(readyz), env={"RUNTIME_NAMESPACE": NAMESPACE})

    def stop(self) -> None:
        self._processes.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> list[int]:
        return self._processes.pids()

    def logs(self) -> str:
        return self._processes.logs()

    # -- objects -----------------------------------------------------------------------------------------

    def get(self, kind: tuple[str, str, str], name: str) -> dict[str, Any] | None:
        group, version, plural = kind
        with self.control_plane.api_client() as api:
            try:
                return k8s.CustomObjectsApi(api).get_namespaced_custom_object(  # type: ignore[no-any-return]
                    group, version, NAMESPACE, plural, name
                )
            except k8s.ApiException as err:
                if err.status == 404:
                    return None
                raise

    def reconcile_now(self, kind: tuple[str, str, str], name: str) -> None:
        """What `flux reconcile` does: set the requestedAt annotation the controllers react to."""
        group, version, plural = kind
        patch = {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": str(time.time_ns())}}}
        with self.control_plane.api_client() as api:
            k8s.CustomObjectsApi(api).patch_namespaced_custom_object(
                group, version, NAMESPACE, plural, name, patch
            )

    def wait(
        self,
        kind: tuple[str, str, str],
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        what: str,
        timeout: float = 90.0,
        observe: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        obj: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            obj = self.get(kind, name)
            if obj is not None:
                if observe is not None:
                    observe(obj)
                if predicate(obj):
                    return obj
            time.sleep(0.25)
        raise AssertionError(
            f"{kind[2]}/{name} not {what} after {timeout:.0f}s: {(obj or {}).get('status')}\n{self.logs()}"
        )


def ready(obj: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """The Ready condition of a Flux object: status, reason, message."""
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == "Ready":
            return cond.get("status"), cond.get("reason"), cond.get("message")
    return None, None, None
