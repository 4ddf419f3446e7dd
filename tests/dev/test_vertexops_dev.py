"""`vertexops dev`, driven without a terminal: the sample reaches Ready, and nothing is left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _our_processes() -> set[tuple[int, str]]:
    """Every running etcd, kube-apiserver and operator process, by pid and command line."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(word in cmdline for word in ("kube-apiserver", "/etcd ", "controller.cli run")):
            found.add((int(entry.name), cmdline))
    return found


def _our_temp_dirs() -> set[str]:
    root = Path(tempfile.gettempdir())
    return {p.name for p in root.iterdir() if p.name.startswith(("vertexops-cp-", "vertexops-dev-"))}


def test_dev_brings_the_sample_to_ready_prints_the_endpoint_and_cleans_up() -> None:
    processes_before, dirs_before = _our_processes(), _our_temp_dirs()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller.cli",
            "dev",
            "--exit-when-done",
            "--time-scale=300",
            "--timeout=240",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    out = result.stdout
    assert "kubectl get tj -n vertexops-demo -w" in out
    assert "kubectl wait --for=condition=Ready tuningjob/support-assistant" in out
    assert "TuningJob support-assistant:" in out
    assert "endpoint:    projects/" in out
    assert "Q: How do I reset my password?" in out
    assert "JOB_STATE_SUCCEEDED" in out

    leftover_processes = _our_processes() - processes_before
    assert not leftover_processes, f"processes left running: {leftover_processes}"
    leftover_dirs = _our_temp_dirs() - dirs_before
    assert not leftover_dirs, f"temporary directories left behind: {leftover_dirs}"


def test_dev_with_an_injected_failure_reports_the_stalled_job() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controller.cli", "dev", "--exit-when-done", "--fail", "--time-scale=300"],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "stalled (JobFailed)" in result.stdout
