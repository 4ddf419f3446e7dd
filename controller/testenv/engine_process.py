"""What the GitOps engine harnesses share: the CRDs of an engine applied and Established, a readiness poll.

On a fresh API server `kubectl wait --for=condition=Established` right after an apply can fail with
`.status.conditions accessor error: <nil>` (the CRD has no status yet), so the condition is polled with
`kubectl get -o jsonpath` instead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

from controller.testenv.controlplane import ControlPlane, ControlPlaneError, die_with_parent


class EngineProcess:
    """One engine process with its own environment and log file; stopping it ends exactly its group."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str]) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env)
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self) -> EngineProcess:
        self._log_file = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - started from the main thread
        )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        self.popen = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


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


def http_ok(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=2).status_code == 200
    return False


def wait_ready(proc: EngineProcess, ready: Callable[[], bool], timeout: float = 90.0) -> None:
    """Wait until `ready()`; fail early, with the log's tail, when the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.running:
            raise ControlPlaneError(f"{proc.name} exited during start-up:\n{proc.log_tail()}")
        if ready():
            return
        time.sleep(0.2)
    raise ControlPlaneError(f"{proc.name} not ready after {timeout:.0f}s:\n{proc.log_tail()}")
