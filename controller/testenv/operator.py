"""Run the operator as a separate process against a local control plane, the way it runs in a cluster.

The process gets a kubeconfig holding a ServiceAccount token bound to exactly the rights in
`controller.rbac`, never the admin's, so a missing RBAC rule fails the tests instead of a user's install; and
Google credentials made for the run (a service-account key or an external-account configuration whose token
endpoint is the emulator), so it authenticates through google-auth as in production.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
from kubernetes import client as k8s

from controller import rbac
from controller.testenv.controlplane import ControlPlane, free_port
from controller.testenv.google_credentials import SERVICE_ACCOUNT, AdcCredentials, write_adc_file
from controller.testenv.process import die_with_parent

# An identity of its own, apart from the chart's `vertexops-system/vertexops`: tests install and uninstall the
# chart on the same control plane, and uninstalling must not revoke the token of an operator started here.
OPERATOR_NAMESPACE = "vertexops-local"
OPERATOR_SERVICE_ACCOUNT = "vertexops-local"
OPERATOR_ROLE = "vertexops-local-operator"


def grant_operator_rights(control_plane: ControlPlane, namespace: str = OPERATOR_NAMESPACE) -> Path:
    """Create the operator's namespace, ServiceAccount and RBAC; return a kubeconfig with its token."""
    with control_plane.api_client() as api:
        core = k8s.CoreV1Api(api)
        rbac_api = k8s.RbacAuthorizationV1Api(api)
        creators: tuple[Callable[[], object], ...] = (
            lambda: core.create_namespace({"metadata": {"name": namespace}}),
            lambda: rbac_api.create_cluster_role(rbac.cluster_role(OPERATOR_ROLE)),
            # One binding per identity: a shared name would keep whichever namespace's account came first.
            lambda: rbac_api.create_cluster_role_binding(
                rbac.cluster_role_binding(
                    OPERATOR_ROLE, OPERATOR_SERVICE_ACCOUNT, namespace, name=f"{OPERATOR_ROLE}-{namespace}"
                )
            ),
            lambda: rbac_api.create_cluster_role(rbac.tenancy_cluster_role(f"{OPERATOR_ROLE}-tenancy")),
            lambda: rbac_api.create_cluster_role_binding(
                rbac.cluster_role_binding(
                    f"{OPERATOR_ROLE}-tenancy",
                    OPERATOR_SERVICE_ACCOUNT,
                    namespace,
                    name=f"{OPERATOR_ROLE}-tenancy-{namespace}",
                )
            ),
            lambda: rbac_api.create_namespaced_role(
                namespace, rbac.leader_election_role(OPERATOR_ROLE, namespace)
            ),
            lambda: rbac_api.create_namespaced_role_binding(
                namespace, rbac.role_binding(OPERATOR_ROLE, namespace, OPERATOR_SERVICE_ACCOUNT, namespace)
            ),
        )
        for create in creators:
            try:
                create()
            except k8s.ApiException as err:
                if err.status != 409:
                    raise
    return control_plane.service_account_kubeconfig(namespace, OPERATOR_SERVICE_ACCOUNT)


class OperatorProcess:
    """`vertexops run` in a child process, with its log in a file; kill, restart and stop it at will."""

    def __init__(
        self,
        kubeconfig: Path,
        vertex_url: str,
        log_path: Path,
        *,
        gemini_url: str | None = None,
        project: str = "vertexops-test",
        location: str = "us-central1",
        namespaces: Sequence[str] = (),
        leader_election: bool = False,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        google_credentials: str = SERVICE_ACCOUNT,
        preflight_default: str | None = "Skip",
    ) -> None:
        """`google_credentials`: "service-account", "external-account", or "none" for no ADC file at all.

        `preflight_default` is passed as --preflight-default (None: the operator's own default, Required).
        Skip unless asked: most suites name datasets that the emulator's Cloud Storage does not hold, and
        are about something else; the preflight's own tests put their files there and ask for Required.
        """
        self.kubeconfig = kubeconfig
        self.vertex_url = vertex_url
        self.gemini_url = gemini_url or vertex_url
        self.log_path = log_path
        self.project = project
        self.location = location
        self.namespaces = list(namespaces)
        self.leader_election = leader_election
        self.extra_args = list(extra_args)
        self.env = env
        self.google_credentials = google_credentials
        self.preflight_default = preflight_default
        self.adc: AdcCredentials | None = None
        self.http_port = 0
        self.popen: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        self.http_port = free_port()
        return [
            sys.executable,
            "-m",
            "controller.cli",
            "run",
            f"--kubeconfig={self.kubeconfig}",
            f"--vertex-base-url={self.vertex_url}",
            f"--gemini-base-url={self.gemini_url}",
            f"--project={self.project}",
            f"--location={self.location}",
            f"--namespaces={','.join(self.namespaces)}",
            f"--leader-election={'true' if self.leader_election else 'false'}",
            f"--lease-namespace={OPERATOR_NAMESPACE}",
            "--bind-address=127.0.0.1",
            f"--http-port={self.http_port}",
            "--log-format=json",
            *([f"--preflight-default={self.preflight_default}"] if self.preflight_default else []),
            *self.extra_args,
        ]

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> OperatorProcess:
        env = {**os.environ, **self.google_env(), **(self.env or {})}
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - started from the main thread
        )
        log.close()
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def google_env(self) -> dict[str, str]:
        """ADC for this operator: written (and registered with the emulator) on first start, then kept."""
        if self.google_credentials == "none":
            # No key file, and no probe of the metadata server (which is not on loopback) either.
            return {"GOOGLE_APPLICATION_CREDENTIALS": "", "NO_GCE_CHECK": "True"}
        if self.adc is None:
            directory = self.log_path.parent / f"{self.log_path.stem}-google"
            self.adc = write_adc_file(self.vertex_url, directory, self.google_credentials)
        # The project is known: without it google-auth would ask Cloud Resource Manager for the project of a
        # workload identity pool, a call to Google the operator does not need. The operator never takes its
        # default project from ADC (only from --project), so an operator started without one still gets the
        # credential's project here.
        return {**self.adc.env(), "GOOGLE_CLOUD_PROJECT": self.project or "vertexops-test"}

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is None or self.popen.poll() is not None:
                raise RuntimeError(f"operator exited during start-up:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.http_port}/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"operator not ready after {timeout:.0f}s:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5).text

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when a node dies or the OOM killer strikes."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait: the graceful shutdown a Deployment rollout gives."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        return self.popen.returncode

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
