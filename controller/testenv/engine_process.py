"""What the GitOps engine harnesses share: their processes' start and stop, the CRDs of an engine applied and
Established, the objects every engine needs created once.

On a fresh API server `kubectl wait --for=condition=Established` right after an apply can fail with
`.status.conditions accessor error: <nil>` (the CRD has no status yet), so the condition is polled with
`kubectl get -o jsonpath` instead.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx
from kubernetes import client as k8s

from controller.testenv.controlplane import ControlPlane, ControlPlaneError
from controller.testenv.process import Process, ProcessStartError, wait_ready


class EngineProcesses:
    """The processes of one engine, each with its own folder, environment and log, on the control plane's
    kubeconfig: started in order (each waited for before the next), stopped in reverse, exactly these."""

    def __init__(self, kubeconfig: Path, workdir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self._processes: list[Process] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        ready: Callable[[], bool],
        *,
        env: Mapping[str, str] | None = None,
        path: Sequence[Path] = (),
        timeout: float = 90.0,
    ) -> Process:
        """Start `argv` as `name` (log `<workdir>/<name>.log`, HOME and TMPDIR under `<workdir>/<name>`),
        with `path` before PATH, and wait until `ready()`."""
        if any(p.name == name for p in self._processes):
            raise ProcessStartError(f"{name} was already started")
        full_env = engine_env(self.kubeconfig, self.workdir / name, env)
        if path:
            full_env["PATH"] = ":".join([*(str(p) for p in path), full_env.get("PATH", "/usr/bin:/bin")])
        proc = Process(name, argv, self.workdir / f"{name}.log", full_env)
        self._processes.append(proc.start())
        wait_ready(proc, ready, timeout)
        return proc

    def stop(self) -> None:
        for proc in reversed(self._processes):
            proc.stop()
        self._processes.clear()

    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None and p.running]

    def logs(self, lines: int = 60) -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail(lines)}" for p in self._processes)


def engine_env(kubeconfig: Path, workdir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an engine process: our kubeconfig, temporary files in its own folder, and no
    proxy for loopback (a proxy from the machine's environment must never see the tests' traffic)."""
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(
        {
            "KUBECONFIG": str(kubeconfig),
            "TMPDIR": str(tmp),
            "HOME": str(workdir),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    env.update(extra or {})
    return env


def apply_crds(control_plane: ControlPlane, files: Sequence[Path], timeout: float = 60.0) -> list[str]:
    """Server-side apply the CRD files (Argo CD's are too large for client-side apply); wait Established."""
    names: list[str] = []
    for path in files:
        out = control_plane.kubectl(
            "apply", "--server-side", "--force-conflicts", "-o", "name", "-f", str(path)
        ).stdout
        names.extend(line.strip() for line in out.splitlines() if line.strip())
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            status = control_plane.kubectl(
                "get",
                name,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Established')].status}",
                check=False,
            ).stdout.strip()
            if status == "True":
                break
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{name} not Established after {timeout:.0f}s")
            time.sleep(0.2)
    return names


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def redis_answers(port: int) -> bool:
    """A redis server answers PING on `port` (not merely something listening there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        try:
            sock.connect(("127.0.0.1", port))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def http_ok(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=2).status_code == 200
    return False


def create_if_absent(create: Callable[[], object]) -> None:
    """Create an object the engine needs; one that exists already (a second start on a cluster) is fine."""
    try:
        create()
    except k8s.ApiException as err:
        if err.status != 409:
            raise


def ensure_namespace(control_plane: ControlPlane, name: str) -> None:
    with control_plane.api_client() as api:
        core = k8s.CoreV1Api(api)
        create_if_absent(lambda: core.create_namespace({"metadata": {"name": name}}))
