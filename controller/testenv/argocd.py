"""Real Argo CD against a local control plane: redis, the repo server and the application controller.

Argo CD runs outside the cluster the way its own developers run it: `ARGOCD_FAKE_IN_CLUSTER=true` makes the
destination `https://kubernetes.default.svc` mean the kubeconfig's cluster, so no cluster Secret is needed.
The API server and UI are not started; tests read Applications with the Kubernetes API, as `kubectl` users
do. What the Argo CD server would otherwise create (the `default` AppProject, the config maps) is created
here. Every process listens on 127.0.0.1 and a free port, except the controller's metrics server, which
Argo CD always binds on all interfaces (nothing is sent there). `stop()` ends exactly what `start()` began.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client as k8s

from controller.testenv.controlplane import ControlPlane, free_port
from controller.testenv.engine_process import (
    EngineProcesses,
    apply_crds,
    create_if_absent,
    ensure_namespace,
    http_ok,
    port_open,
    redis_answers,
)
from controller.testenv.engine_tools import ArgoCDTools, resolve_argocd
from controller.testenv.process import Process, ProcessStartError

NAMESPACE = "argocd"
REDIS_START_ATTEMPTS = 3
GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"
IN_CLUSTER = "https://kubernetes.default.svc"

_CONFIG_MAPS = ("argocd-cm", "argocd-rbac-cm", "argocd-cmd-params-cm")


class ArgoCD:
    """Argo CD's application controller and repo server, with redis, for one control plane."""

    def __init__(
        self,
        control_plane: ControlPlane,
        tools: ArgoCDTools | None = None,
        workdir: Path | None = None,
        extra_path: tuple[Path, ...] = (),
    ) -> None:
        self.control_plane = control_plane
        self.tools = tools or resolve_argocd()
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="vertexops-argocd-"))
        #: folders put before PATH for the repo server (e.g. helm 3, which it runs to render charts)
        self.extra_path = extra_path
        self.redis_port = free_port()
        self.repo_server_port = free_port()
        self.repo_server_metrics_port = free_port()
        self.controller_metrics_port = free_port()
        self._processes = EngineProcesses(control_plane.kubeconfig, self.workdir)

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> ArgoCD:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ArgoCD:
        try:
            self.install_config()
            self._start_redis()
            self._start_repo_server()
            self._start_controller()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._processes.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> list[int]:
        return self._processes.pids()

    def install_config(self) -> None:
        """Argo CD's CRDs, its namespace and config maps, and the `default` AppProject."""
        apply_crds(self.control_plane, self.tools.crds)
        labels = {"app.kubernetes.io/part-of": "argocd"}
        ensure_namespace(self.control_plane, NAMESPACE)
        with self.control_plane.api_client() as api:
            core = k8s.CoreV1Api(api)
            for name in _CONFIG_MAPS:
                body = {"metadata": {"name": name, "labels": {**labels, "app.kubernetes.io/name": name}}}
                create_if_absent(functools.partial(core.create_namespaced_config_map, NAMESPACE, body))
            secret = {
                "metadata": {
                    "name": "argocd-secret",
                    "labels": {**labels, "app.kubernetes.io/name": "argocd-secret"},
                },
                "type": "Opaque",
            }
            create_if_absent(lambda: core.create_namespaced_secret(NAMESPACE, secret))
            project = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "AppProject",
                "metadata": {"name": "default", "namespace": NAMESPACE},
                "spec": {
                    "sourceRepos": ["*"],
                    "destinations": [{"server": "*", "namespace": "*"}],
                    "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
                },
            }
            custom = k8s.CustomObjectsApi(api)
            create_if_absent(
                lambda: custom.create_namespaced_custom_object(
                    GROUP, VERSION, NAMESPACE, "appprojects", project
                )
            )

    def _start(self, name: str, argv: list[str], ready: Callable[[], bool]) -> Process:
        return self._processes.start(
            name,
            argv,
            ready,
            env={
                "ARGOCD_BINARY_NAME": name,
                "ARGOCD_FAKE_IN_CLUSTER": "true",
                "ARGOCD_GPG_ENABLED": "false",
            },
            path=(self.tools.bin_dir, *self.extra_path),
        )

    def _start_redis(self) -> None:
        """Redis on a free port, on another one if that port was taken meanwhile.

        A port `free_port` found free can be taken before redis binds it (by any process's outgoing
        connection); redis then exits at once, while the port answers for whoever holds it. So readiness
        is redis's own PONG, and a redis that exited right after is started again on a new port.
        """
        (self.workdir / "redis").mkdir(parents=True, exist_ok=True)
        for attempt in range(1, REDIS_START_ATTEMPTS + 1):
            argv = [
                str(self.tools.redis_server),
                "--bind", "127.0.0.1",
                "--port", str(self.redis_port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir / "redis"),
            ]  # fmt: skip
            name = "redis" if attempt == 1 else f"redis-{attempt}"
            port = self.redis_port
            try:
                proc = self._start(name, argv, functools.partial(redis_answers, port))
                time.sleep(0.3)  # an abort after a failed bind comes within milliseconds
                if proc.running:
                    return
            except ProcessStartError:
                if attempt == REDIS_START_ATTEMPTS:
                    raise
            self.redis_port = free_port()
        raise ProcessStartError(f"redis did not start in {REDIS_START_ATTEMPTS} attempts:\n{self.logs()}")

    def _start_repo_server(self) -> None:
        argv = [
            str(self.tools.binary),
            "--address", "127.0.0.1",
            "--port", str(self.repo_server_port),
            "--metrics-address", "127.0.0.1",
            "--metrics-port", str(self.repo_server_metrics_port),
            "--disable-tls",
            "--client-ca-path", "",
            "--redis", f"127.0.0.1:{self.redis_port}",
            # A new commit is seen within seconds rather than the default 3 minutes.
            "--revision-cache-expiration", "5s",
            "--loglevel", "info",
        ]  # fmt: skip
        # Ready when its own health check answers (on the metrics port, as the chart's probe asks) and its
        # gRPC port is open: an open port alone may be another process's that took it first.
        healthz = f"http://127.0.0.1:{self.repo_server_metrics_port}/healthz"
        self._start("argocd-repo-server", argv, lambda: http_ok(healthz) and port_open(self.repo_server_port))

    def _start_controller(self) -> None:
        argv = [
            str(self.tools.binary),
            f"--kubeconfig={self.control_plane.kubeconfig}",
            f"--namespace={NAMESPACE}",
            "--repo-server", f"127.0.0.1:{self.repo_server_port}",
            "--repo-server-plaintext",
            "--repo-server-client-cert-path", "",
            "--repo-server-client-cert-key-path", "",
            "--redis", f"127.0.0.1:{self.redis_port}",
            "--metrics-port", str(self.controller_metrics_port),
            "--app-resync", "10",
            "--app-resync-jitter", "0",
            "--self-heal-timeout-seconds", "2",
            # Per-resource health in the Application's status, which the tests read.
            "--persist-resource-health",
            "--loglevel", "info",
        ]  # fmt: skip
        healthz = f"http://127.0.0.1:{self.controller_metrics_port}/healthz"
        self._start("argocd-application-controller", argv, lambda: http_ok(healthz))

    def logs(self) -> str:
        return self._processes.logs()

    # -- Applications ------------------------------------------------------------------------------------

    def _custom(self, api: k8s.ApiClient) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(api)

    def application(self, name: str) -> dict[str, Any] | None:
        with self.control_plane.api_client() as api:
            try:
                return self._custom(api).get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name)  # type: ignore[no-any-return]
            except k8s.ApiException as err:
                if err.status == 404:
                    return None
                raise

    def refresh(self, name: str, hard: bool = True) -> None:
        """Ask for a refresh now, as a Git webhook would after a push."""
        patch = {"metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard" if hard else "normal"}}}
        with self.control_plane.api_client() as api:
            self._custom(api).patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, name, patch)

    def wait_application(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = 90.0,
        observe: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll the Application until `predicate`; `observe` sees every state read on the way."""
        deadline = time.monotonic() + timeout
        app: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            app = self.application(name)
            if app is not None:
                if observe is not None:
                    observe(app)
                if predicate(app):
                    return app
            time.sleep(0.25)
        status = (app or {}).get("status", {})
        summary = {k: status.get(k) for k in ("sync", "health", "conditions", "operationState", "resources")}
        raise AssertionError(f"Application {name} not {what} after {timeout:.0f}s: {summary}\n{self.logs()}")


def sync_status(app: dict[str, Any]) -> str | None:
    return app.get("status", {}).get("sync", {}).get("status")  # type: ignore[no-any-return]


def health(app: dict[str, Any]) -> tuple[str | None, str | None]:
    """The Application's own health (status and message)."""
    h = app.get("status", {}).get("health", {})
    return h.get("status"), h.get("message")


def resource_health(app: dict[str, Any], kind: str, name: str) -> tuple[str | None, str | None]:
    """The health Argo CD computed for one managed resource (needs `--persist-resource-health`)."""
    for res in app.get("status", {}).get("resources", []) or []:
        if res.get("kind") == kind and res.get("name") == name:
            h = res.get("health") or {}
            return h.get("status"), h.get("message")
    return None, None
