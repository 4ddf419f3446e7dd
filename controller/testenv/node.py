"""A real single-node cluster for tests and `vertexops dev --node`: the control plane plus a node.

Beside `ControlPlane` (etcd + kube-apiserver, fast, enough for most tests) this adds what runs Pods:
kube-controller-manager, kube-scheduler, a kubelet with its own containerd (and runc, CNI bridge plugin),
and kube-proxy in iptables mode, so Deployments, ServiceAccount tokens, probes, Services and Pod Security
behave as in a user's cluster. Images are imported from archives: there is no registry.

Everything is private to one run: free ports, a temporary folder for every component's state, a bridge
name, Pod and Service ranges and a cgroup root picked per run. Because kube-proxy's iptables chains have
fixed names, only one node runs on a machine at a time: a second one waits on a lock. `stop()` ends exactly
the processes this object started (and the containers they started), and undoes every mount, bridge, route,
iptables chain, kernel setting and cgroup it changed (see `controller.testenv.hostnet`). With
`VERTEXOPS_NODE_LOGS=DIR` the components' logs are copied to DIR/<node name>/ first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from controller.testenv import certs
from controller.testenv.controlplane import ControlPlane, ControlPlaneError, _b64, free_port
from controller.testenv.google_credentials import AdcCredentials, service_account_key_file
from controller.testenv.hostnet import HostChanges, mounts_under, pick_network, unmount_all
from controller.testenv.nodetools import NodeTools, resolve_node_tools
from controller.testenv.process import Process
from controller.testenv.tools import Tools, resolve_tools

log = logging.getLogger(__name__)

LOCK_PATH = Path("/run/lock/vertexops-node.lock")


# containerd and the kubelet put Unix sockets up to 40 characters deep below the node's folder, and
# containerd refuses a socket path longer than 104 bytes.
MAX_TEMP_DIR_CHARS = 50


def _short_temp_dir() -> str:
    """The temporary folder, or /tmp when it is too deep for the node's sockets (a test's own TMPDIR)."""
    base = tempfile.gettempdir()
    if len(base) <= MAX_TEMP_DIR_CHARS:
        return base
    log.info("node: %s is too long a path for containerd's sockets; using /tmp", base)
    return "/tmp"  # noqa: S108 - a private mkdtemp folder below it


class NodeError(ControlPlaneError):
    """The node could not start; the message names the component and carries the tail of its log."""


class Node:
    """A control plane with one real node. Use as a context manager, or call `start()` and `stop()`."""

    def __init__(
        self,
        tools: Tools | None = None,
        node_tools: NodeTools | None = None,
        images: Sequence[Path] = (),
        startup_timeout: float = 180.0,
        lock_timeout: float = 1800.0,
    ) -> None:
        self.tools = tools or resolve_tools()
        self.node_tools = node_tools or resolve_node_tools()
        self.images = list(images)
        self.startup_timeout = startup_timeout
        self.lock_timeout = lock_timeout
        self.run_id = uuid.uuid4().hex[:10]
        self.name = f"vertexops-node-{self.run_id[:6]}"
        self.workdir = Path(tempfile.mkdtemp(prefix="vxn-", dir=_short_temp_dir()))
        self.network = pick_network(self.run_id)
        self.host = HostChanges(self.network, cgroup_name=f"vertexops-{self.run_id}")
        self.control_plane = ControlPlane(
            self.tools,
            workdir=self.workdir / "cp",
            bind_address=self.network.gateway,
            service_cidr=self.network.service_cidr,
            for_node=True,
            startup_timeout=startup_timeout,
        )
        self.containerd_socket = self.workdir / "containerd" / "containerd.sock"
        self._procs: dict[str, Process] = {}
        self._lock: IO[str] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.kubeconfig

    @property
    def node_ip(self) -> str:
        """The node's address on its bridge: where Pods reach the API server and the host's servers."""
        return self.network.gateway

    def kubectl(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return self.control_plane.kubectl(*args, **kwargs)

    def start(self) -> Node:
        try:
            self.acquire_lock()
            self.host.record_baseline()
            self.host.create_bridge()
            cgroup_root = self.host.create_cgroups()
            self.control_plane.start()
            self._start_containerd()
            self.import_image(self.node_tools.pause_archive)
            for image in self.images:
                self.import_image(image)
            self._start_controller_manager()
            self._start_scheduler()
            self._start_kubelet(cgroup_root)
            self._start_kube_proxy()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, release_lock: bool = True) -> None:
        """Undo everything `start()` did, in reverse, whatever state a failed start left behind.

        With `release_lock=False` no other node may start until `release_lock()`: a test can then compare
        the host with what it was before `acquire_lock()` without another node's changes in between.
        """
        steps: list[tuple[str, Callable[[], None]]] = [
            ("delete pods", self._delete_pods),
            ("stop kube-proxy", lambda: self._stop("kube-proxy")),
            ("stop kubelet", lambda: self._stop("kubelet")),
            ("stop scheduler", lambda: self._stop("kube-scheduler")),
            ("stop controller-manager", lambda: self._stop("kube-controller-manager")),
            ("remove containers", self._remove_containers),
            ("stop containerd", lambda: self._stop("containerd")),
            ("end shims", self._kill_shims),
            ("end leftover container processes", self.host.kill_cgroup_processes),
            ("unmount", lambda: unmount_all(self.workdir)),
            ("remove network namespaces", self.host.remove_netns),
            ("stop control plane", self.control_plane.stop),
            ("remove iptables chains", self.host.remove_iptables_chains),
            ("remove bridge", self.host.remove_network),
            ("restore sysctls", self.host.restore_sysctls),
            ("remove cgroups", self.host.remove_cgroups),
        ]
        for what, step in steps:
            try:
                step()
            except Exception:
                log.exception("node teardown: %s failed", what)
        keep = os.environ.get("VERTEXOPS_NODE_LOGS")
        if keep:  # where CI or a developer wants the components' logs after the run
            target = Path(keep) / self.name
            target.mkdir(parents=True, exist_ok=True)
            for log_file in [*self.workdir.glob("*.log"), *self.workdir.glob("cp/*.log")]:
                with contextlib.suppress(OSError):
                    shutil.copy(log_file, target / log_file.name)
        left = mounts_under(self.workdir)
        if left:  # never delete through a mount point: it could reach outside the node's folder
            log.error("node teardown: still mounted, %s kept: %s", self.workdir, left)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if release_lock:
            self.release_lock()

    def pids(self) -> list[int]:
        """Process ids of every component while it runs (used to prove a clean stop)."""
        own = [p.popen.pid for p in self._procs.values() if p.popen is not None]
        return own + self.control_plane.pids()

    # -- images ------------------------------------------------------------------------------------------

    def ctr(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [str(self.node_tools.ctr), f"--address={self.containerd_socket}", "--namespace=k8s.io", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise NodeError(f"ctr {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def import_image(self, archive: Path) -> None:
        """Load an OCI or docker archive into the node's containerd (the CRI's k8s.io namespace)."""
        self.ctr("images", "import", "--snapshotter=overlayfs", str(archive))

    # -- Google credentials ------------------------------------------------------------------------------

    def create_google_credentials_secret(
        self, emulator_url: str, namespace: str, name: str, key: str = "credentials.json"
    ) -> AdcCredentials:
        """A service-account key the emulator at `emulator_url` trusts, stored as Secret `name`.

        That is how a user off GKE gives the operator's Pods Application Default Credentials (the chart's
        `google.credentials` value mounts it); the key file itself is removed once it is in the Secret.
        """
        with tempfile.TemporaryDirectory(dir=self.workdir) as directory:
            adc = service_account_key_file(emulator_url, Path(directory))
            self.kubectl(
                "create", "secret", "generic", name, "-n", namespace, f"--from-file={key}={adc.path}"
            )
        return adc

    # -- components --------------------------------------------------------------------------------------

    def acquire_lock(self) -> None:
        """Wait until no other node runs on this machine, then hold that until `release_lock()`.

        `start()` does it; call it first to look at the host before the node starts. Holding it already
        is fine.
        """
        if self._lock is not None:
            return
        LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
        self._lock = LOCK_PATH.open("a")
        deadline = time.monotonic() + self.lock_timeout
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NodeError(f"another test node holds {LOCK_PATH}") from None
                time.sleep(1)

    def release_lock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _spawn(self, name: str, argv: Sequence[str | Path], ready: Callable[[], bool] | None = None) -> None:
        proc = Process(name, [str(a) for a in argv], self.workdir / f"{name}.log")
        self._procs[name] = proc
        proc.start()
        if ready is not None:
            self._wait(name, ready)

    def _stop(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        if proc is not None:
            proc.stop()

    def _wait(self, name: str, ready: Callable[[], bool], timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        proc = self._procs.get(name)
        while time.monotonic() < deadline:
            if proc is not None and not proc.running:
                raise NodeError(f"{name} exited during start-up:\n{proc.log_tail()}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.5)
        tail = proc.log_tail() if proc else ""
        raise NodeError(f"{name} not ready after {timeout or self.startup_timeout:.0f}s:\n{tail}")

    def _client_kubeconfig(self, stem: str, common_name: str, organization: str | None = None) -> Path:
        assert self.control_plane.certs is not None
        files = certs.issue_client(self.control_plane.certs, stem, common_name, organization)
        user = {
            "client-certificate-data": _b64(files.cert.read_bytes()),
            "client-key-data": _b64(files.key.read_bytes()),
        }
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.control_plane.server,
                        "certificate-authority-data": _b64(
                            self.control_plane.certs.serving_ca.cert.read_bytes()
                        ),
                    },
                }
            ],
            "users": [{"name": common_name, "user": user}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": common_name}}],
            "current-context": "local",
        }
        path = self.workdir / f"{stem}.kubeconfig"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        path.chmod(0o600)
        return path

    def _start_containerd(self) -> None:
        base = self.workdir / "containerd"
        (base / "cni").mkdir(parents=True)
        cni_conf = {
            "cniVersion": "0.4.0",
            "name": f"vertexops-{self.run_id}",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": self.network.bridge,
                    "isGateway": True,
                    # No masquerading: Pods have no business outside this bridge and the host.
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.network.pod_cidr, "gateway": self.network.gateway}]],
                        # Pods reach the node itself on the bridge, and Services through it: no default route.
                        "routes": [{"dst": self.network.service_cidr, "gw": self.network.gateway}],
                        "dataDir": str(base / "ipam"),
                    },
                }
            ],
        }
        (base / "cni" / "10-bridge.conflist").write_text(json.dumps(cni_conf, indent=2))
        config = f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
[grpc]
  address = "{self.containerd_socket}"
[ttrpc]
  address = "{base / "containerd.sock.ttrpc"}"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{self.node_tools.pause_image}"
  # The VM withholds CAP_SYS_RESOURCE: without this runc cannot set the sandbox's oom_score_adj.
  restrict_oom_score_adj = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "{self.node_tools.runc}"
        Root = "{base / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{self.node_tools.cni_bin_dir}"
    conf_dir = "{base / "cni"}"
"""
        (base / "config.toml").write_text(config)
        self._spawn(
            "containerd",
            [self.node_tools.containerd, f"--config={base / 'config.toml'}", "--log-level=warn"],
            ready=lambda: self.ctr("version", check=False, timeout=10).returncode == 0,
        )

    def _start_controller_manager(self) -> None:
        assert self.control_plane.certs is not None
        c = self.control_plane.certs
        kubeconfig = self._client_kubeconfig("controller-manager", "system:kube-controller-manager")
        port = free_port()
        self._spawn(
            "kube-controller-manager",
            [
                self.node_tools.kube_controller_manager,
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.workdir / 'controller-manager-certs'}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={c.service_account_key}",
                # Published in every namespace as kube-root-ca.crt, which Pods' token volumes mount.
                f"--root-ca-file={c.serving_ca.cert}",
                f"--service-cluster-ip-range={self.network.service_cidr}",
                "--allocate-node-cidrs=false",
                "--profiling=false",
            ],
        )

    def _start_scheduler(self) -> None:
        kubeconfig = self._client_kubeconfig("scheduler", "system:kube-scheduler")
        self._spawn(
            "kube-scheduler",
            [
                self.node_tools.kube_scheduler,
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={self.workdir / 'scheduler-certs'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )

    def _start_kubelet(self, cgroup_root: str) -> None:
        assert self.control_plane.certs is not None
        kubeconfig = self._client_kubeconfig("kubelet", f"system:node:{self.name}", "system:nodes")
        root = self.workdir / "kubelet"
        root.mkdir()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": self.node_ip,
            "port": free_port(),
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.control_plane.certs.client_ca.cert)},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": cgroup_root,
            # This host has cgroup v1, swap may be on; neither matters to a throwaway test node.
            "failCgroupV1": False,
            "failSwapOn": False,
            "podLogsDir": str(self.workdir / "pod-logs"),
            "makeIPTablesUtilChains": False,
            # Never evict or garbage-collect the imported images on a busy developer disk.
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "imageMinimumGCAge": "24h",
            "registerNode": True,
            "serializeImagePulls": False,
            "syncFrequency": "10s",
            "fileCheckFrequency": "1h",
            "nodeStatusUpdateFrequency": "5s",
            "shutdownGracePeriod": "0s",
        }
        (root / "config.yaml").write_text(yaml.safe_dump(config))
        self._spawn(
            "kubelet",
            [
                self.node_tools.kubelet,
                f"--config={root / 'config.yaml'}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={root}",
                f"--cert-dir={root / 'pki'}",
                f"--hostname-override={self.name}",
                f"--node-ip={self.node_ip}",
                "--v=1",
            ],
        )

    def _start_kube_proxy(self) -> None:
        kubeconfig = self._client_kubeconfig("kube-proxy", "system:kube-proxy")
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "mode": "iptables",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": self.name,
            "bindAddress": self.node_ip,
            "clusterCIDR": self.network.pod_cidr,
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            # Leave the host's conntrack limits and timeouts alone, and no NodePorts on 127.0.0.1 (which would
            # need net.ipv4.conf.all.route_localnet).
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            "iptables": {"localhostNodePorts": False, "syncPeriod": "5s", "minSyncPeriod": "0s"},
            "nodePortAddresses": [f"{self.node_ip}/32"],
        }
        path = self.workdir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        self._spawn("kube-proxy", [self.node_tools.kube_proxy, f"--config={path}"])

    def _wait_ready(self) -> None:
        def node_ready() -> bool:
            out = self.kubectl("get", "node", self.name, "-o", "json", check=False).stdout
            if not out:
                return False
            conditions = json.loads(out)["status"].get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        self._wait("kubelet", node_ready)
        self._wait("kube-controller-manager", lambda: self._has_service_account("default"))
        # Pods reach the API server through the `kubernetes` Service: wait until kube-proxy rewrites it.
        self._wait("kube-proxy", lambda: self.service_routed(self.kubernetes_service_ip()))

    def kubernetes_service_ip(self) -> str:
        return self.kubectl("get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").stdout.strip()

    def service_routed(self, cluster_ip: str) -> bool:
        """True once kube-proxy has programmed `cluster_ip`, so traffic to it reaches a Pod, not the wire."""
        rules = subprocess.run(
            ["iptables", "-t", "nat", "-S", "KUBE-SERVICES"], capture_output=True, text=True, check=False
        ).stdout
        return f"-d {cluster_ip}/32" in rules

    def _has_service_account(self, namespace: str) -> bool:
        return self.kubectl("get", "serviceaccount", "default", "-n", namespace, check=False).returncode == 0

    def wait_for_default_service_account(self, namespace: str, timeout: float = 120) -> None:
        """Pods are refused until kube-controller-manager has made the namespace's `default` account."""
        self._wait("kube-controller-manager", lambda: self._has_service_account(namespace), timeout)

    # -- teardown ----------------------------------------------------------------------------------------

    def _delete_pods(self) -> None:
        """Delete every Pod while the kubelet still runs, so it stops them and releases their networks."""
        if "kubelet" not in self._procs or not self._procs["kubelet"].running:
            return
        self.kubectl(
            "delete", "pods", "--all", "-A", "--grace-period=0", "--force", "--wait=false", check=False
        )
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            if not self.ctr("containers", "list", "--quiet", check=False, timeout=10).stdout.strip():
                return
            time.sleep(1)

    def _remove_containers(self) -> None:
        """What the kubelet left: kill and delete every task and container in this containerd."""
        if "containerd" not in self._procs:
            return
        # `tasks delete --force` kills a task that still runs and waits for it to end.
        for task in self.ctr("tasks", "list", "--quiet", check=False, timeout=30).stdout.split():
            self.ctr("tasks", "delete", "--force", task, check=False, timeout=60)
        for container in self.ctr("containers", "list", "--quiet", check=False, timeout=30).stdout.split():
            self.ctr("containers", "delete", container, check=False, timeout=30)

    def _kill_shims(self) -> None:
        """containerd's shims outlive containerd by design; end those that serve this node's containerd."""
        marker = str(self.containerd_socket).encode()
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if argv and argv[0].endswith(b"containerd-shim-runc-v2") and marker in argv:
                    os.kill(int(proc.name), signal.SIGKILL)
