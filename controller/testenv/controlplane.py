"""A real, throwaway Kubernetes control plane: etcd plus kube-apiserver on loopback.

This is the arrangement controller-runtime's envtest uses: no kubelet, no scheduler, no controller-manager,
just the API server with its admission chain, RBAC and CRD support. The tests and `vertexops dev` both use
it, so the operator is always exercised against the real API machinery (validation, CEL, watches, 410 Gone,
optimistic concurrency) rather than a mock of it.

Two consequences of having no controller-manager are worth knowing: a deleted namespace stays Terminating
(the namespace controller never empties it), and ownerReference garbage collection does not run.
"""

from __future__ import annotations

import base64
import ipaddress
import logging
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from controller.testenv import certs
from controller.testenv.process import Process, ProcessStartError, wait_ready
from controller.testenv.tools import Tools, resolve_tools

log = logging.getLogger(__name__)


class KubectlError(subprocess.CalledProcessError):
    """kubectl failed; unlike its base class, the message carries kubectl's stderr."""

    def __str__(self) -> str:
        return f"{super().__str__()}\n{self.stderr}"


class ControlPlaneError(ProcessStartError):
    """The control plane could not start; the message carries the tail of the failing process's log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ControlPlane:
    """etcd + kube-apiserver with generated certificates, RBAC on, and an admin kubeconfig.

    Use it as a context manager, or call `start()` and `stop()`. `stop()` ends exactly the processes this
    object started and removes its temporary directory.
    """

    def __init__(
        self,
        tools: Tools | None = None,
        workdir: Path | None = None,
        extra_apiserver_args: Sequence[str] = (),
        startup_timeout: float = 120.0,
        *,
        bind_address: str = "127.0.0.1",
        service_cidr: str = "10.0.0.0/24",
        for_node: bool = False,
    ) -> None:
        """`for_node` prepares the API server for a kubelet (see `controller.testenv.node`): it binds
        `bind_address`, an address the node's Pods reach, publishes it as the `kubernetes` Service's endpoint,
        authorizes nodes with the Node authorizer, and mounts ServiceAccount tokens into Pods."""
        self.tools = tools or resolve_tools()
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="vertexops-cp-"))
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.startup_timeout = startup_timeout
        self.bind_address = bind_address
        self.service_cidr = service_cidr
        self.for_node = for_node
        self.etcd_port = free_port()
        self.etcd_peer_port = free_port()
        self.apiserver_port = free_port()
        self.etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        self.server = f"https://{bind_address}:{self.apiserver_port}"
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.certs: certs.ControlPlaneCerts | None = None
        self._etcd: Process | None = None
        self._apiserver: Process | None = None
        self._admin_tls: ssl.SSLContext | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        try:
            self.certs = certs.generate(self.workdir / "pki", extra_ips=self._serving_ips())
            self._start_etcd()
            self.start_apiserver()
            self._write_admin_kubeconfig()
        except BaseException:
            self.stop()
            raise
        return self

    def _serving_ips(self) -> tuple[str, ...]:
        if not self.for_node:
            return ()
        first_service_ip = str(next(ipaddress.ip_network(self.service_cidr).hosts()))
        return (self.bind_address, first_service_ip)

    def _node_args(self) -> list[str]:
        """The API server flags a cluster with a kubelet needs, beyond the bare control plane's."""
        assert self.certs is not None
        if not self.for_node:
            # No controller-manager creates the namespaces' default ServiceAccounts, so pods created in
            # tests (Pod Security checks) would be refused by this plugin; envtest turns it off too.
            return ["--disable-admission-plugins=ServiceAccount", "--endpoint-reconciler-type=none"]
        return [
            "--enable-admission-plugins=NodeRestriction",
            "--endpoint-reconciler-type=lease",
            f"--kubelet-client-certificate={self.certs.admin_client.cert}",
            f"--kubelet-client-key={self.certs.admin_client.key}",
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def stop(self) -> None:
        for proc in (self._apiserver, self._etcd):
            if proc is not None:
                proc.stop()
        self._apiserver = self._etcd = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> list[int]:
        """The process ids of etcd and kube-apiserver while they run (used to prove a clean stop)."""
        return [p.popen.pid for p in (self._etcd, self._apiserver) if p is not None and p.popen is not None]

    def _start_etcd(self) -> None:
        assert self.certs is not None
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._etcd = Process(
            "etcd",
            [
                str(self.tools.etcd),
                "--name=vertexops",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=vertexops={peer}",
                "--unsafe-no-fsync=true",  # a throwaway store: durability is not worth the disk flushes
                "--log-level=warn",
            ],
            self.workdir / "etcd.log",
        )
        self._etcd.start()
        self._wait_until(
            self._etcd, lambda: httpx.get(f"{self.etcd_url}/health", timeout=2).status_code == 200
        )

    def start_apiserver(self) -> None:
        """Start (or restart, on the same port and storage) kube-apiserver and wait for /readyz."""
        assert self.certs is not None
        c = self.certs
        self._apiserver = Process(
            "kube-apiserver",
            [
                str(self.tools.kube_apiserver),
                f"--etcd-servers={self.etcd_url}",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                f"--bind-address={self.bind_address}",
                f"--advertise-address={self.bind_address}",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={c.serving.cert}",
                f"--tls-private-key-file={c.serving.key}",
                f"--client-ca-file={c.client_ca.cert}",
                f"--service-account-key-file={c.service_account_pub}",
                f"--service-account-signing-key-file={c.service_account_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--authorization-mode=Node,RBAC" if self.for_node else "--authorization-mode=RBAC",
                f"--service-cluster-ip-range={self.service_cidr}",
                "--allow-privileged=true",
                *self._node_args(),
                "--profiling=false",
                "--v=0",
                *self.extra_apiserver_args,
            ],
            self.workdir / "kube-apiserver.log",
        )
        self._apiserver.start()
        self._wait_until(self._apiserver, self._apiserver_ready)

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver only (etcd keeps the data), to test how clients live through an outage."""
        if self._apiserver is not None:
            self._apiserver.stop()
            self._apiserver = None

    def _apiserver_ready(self) -> bool:
        assert self.certs is not None
        if self._admin_tls is None:
            self._admin_tls = ssl.create_default_context(cafile=str(self.certs.serving_ca.cert))
            self._admin_tls.load_cert_chain(
                str(self.certs.admin_client.cert), str(self.certs.admin_client.key)
            )
        response = httpx.get(f"{self.server}/readyz", verify=self._admin_tls, timeout=2)
        return response.status_code == 200

    def _wait_until(self, proc: Process, ready: Any) -> None:
        try:
            wait_ready(proc, ready, self.startup_timeout)
        except ProcessStartError as err:
            raise ControlPlaneError(str(err)) from None

    # -- clients -----------------------------------------------------------------------------------------

    def _write_admin_kubeconfig(self) -> None:
        assert self.certs is not None
        user = {
            "client-certificate-data": _b64(self.certs.admin_client.cert.read_bytes()),
            "client-key-data": _b64(self.certs.admin_client.key.read_bytes()),
        }
        _write_kubeconfig(
            self.kubeconfig, self.server, self.certs.serving_ca.cert.read_bytes(), "admin", user
        )

    def api_client(self, kubeconfig: Path | None = None) -> k8s.ApiClient:
        """A new `kubernetes` client for the admin (or for the identity in the given kubeconfig)."""
        return k8s_config.new_client_from_config(config_file=str(kubeconfig or self.kubeconfig))

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        kubeconfig: Path | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this control plane; on failure with `check`, raise with its stderr."""
        argv = [str(self.tools.kubectl), f"--kubeconfig={kubeconfig or self.kubeconfig}", *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def service_account_kubeconfig(
        self, namespace: str, name: str, expiration_seconds: int = 3600, audiences: Sequence[str] = ()
    ) -> Path:
        """Create the ServiceAccount if needed, mint a token through TokenRequest, and write a kubeconfig.

        The identity has exactly the rights RBAC grants that ServiceAccount: that is how the operator is
        tested with the rights its chart gives it and nothing more.
        """
        assert self.certs is not None
        with self.api_client() as api:
            core = k8s.CoreV1Api(api)
            try:
                core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
            except k8s.ApiException as err:
                if err.status != 409:
                    raise
            request = k8s.AuthenticationV1TokenRequest(
                spec=k8s.V1TokenRequestSpec(audiences=list(audiences), expiration_seconds=expiration_seconds)
            )
            token = core.create_namespaced_service_account_token(name, namespace, request).status.token
        path = self.workdir / f"sa-{namespace}-{name}.kubeconfig"
        user_name = f"system:serviceaccount:{namespace}:{name}"
        _write_kubeconfig(
            path, self.server, self.certs.serving_ca.cert.read_bytes(), user_name, {"token": token}
        )
        return path

    # -- etcd access for tests that must provoke compaction (410 Gone) -------------------------------------

    def etcd_revision(self) -> int:
        response = httpx.post(f"{self.etcd_url}/v3/kv/range", json={"key": _b64(b"\0")}, timeout=10)
        response.raise_for_status()
        return int(response.json()["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd history up to the current revision, so watches from older revisions get 410 Gone."""
        revision = self.etcd_revision()
        response = httpx.post(
            f"{self.etcd_url}/v3/kv/compaction",
            json={"revision": str(revision), "physical": True},
            timeout=30,
        )
        response.raise_for_status()
        return revision


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _write_kubeconfig(path: Path, server: str, ca_pem: bytes, user_name: str, user: dict[str, str]) -> None:
    context = "vertexops-local"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority-data": _b64(ca_pem)}}
        ],
        "users": [{"name": user_name, "user": user}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": user_name}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    path.chmod(0o600)
