"""A child process of the test harness: its own log file and process group, ended exactly and only by us.

The control plane, the GitOps engines and the test node all start their programs through `Process`, so
every one of them stops the same way (SIGTERM to its own group, SIGKILL after a grace) and dies with the
test run that started it, even one killed by SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

_PR_SET_PDEATHSIG = 1


class ProcessStartError(RuntimeError):
    """A process exited, or never became ready, during start-up; the message carries its log's tail."""


def die_with_parent() -> None:
    """Ask Linux to SIGTERM the child when the process that started it dies, even by SIGKILL.

    Without this a crashed test run or a killed `vertexops dev` would leave etcd and kube-apiserver running.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Process:
    """One child process with its log file; stopping it ends exactly this process group.

    `env` replaces the environment when given (the engines get one of their own); otherwise the child
    inherits ours.
    """

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self) -> Process:
        if self.running:
            raise ProcessStartError(f"{self.name} is already running (pid {self.pid})")
        self._log_file = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - started from the main thread; the call is async-signal-safe
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

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def wait_ready(proc: Process, ready: Callable[[], bool], timeout: float, interval: float = 0.2) -> None:
    """Poll `ready()` until it holds; fail early, with the log's tail, when the process exits.

    An HTTP error from `ready()` counts as not ready yet (the port may not be listening).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.running:
            raise ProcessStartError(f"{proc.name} exited during start-up:\n{proc.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if ready():
                return
        time.sleep(interval)
    raise ProcessStartError(f"{proc.name} not ready after {timeout:.0f}s:\n{proc.log_tail()}")
