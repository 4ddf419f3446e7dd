"""`vertexops dev`, driven without a terminal: the sample reaches Ready, and nothing is left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that mention `text` (a path only this run uses)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def _run_dev(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Its own TMPDIR: every directory it creates, and every process it starts (their command lines name
    # files there), can be told apart from anything else running on the machine.
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    return subprocess.run(
        [sys.executable, "-m", "controller.cli", "dev", "--exit-when-done", "--time-scale=300", *args],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(private_tmp), "PYTHONUNBUFFERED": "1"},
        check=False,
    )


def test_dev_brings_the_sample_to_ready_prints_the_endpoint_and_cleans_up(tmp_path: Path) -> None:
    result = _run_dev(tmp_path, "--timeout=240")
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    out = result.stdout
    assert "kubectl get tj -n vertexops-demo -w" in out
    assert "kubectl wait --for=condition=Ready tuningjob/support-assistant" in out
    assert "TuningJob support-assistant:" in out
    assert "endpoint:    projects/" in out
    assert "Q: How do I reset my password?" in out
    assert "JOB_STATE_SUCCEEDED" in out

    private_tmp = tmp_path / "tmp"
    assert _processes_mentioning(str(private_tmp)) == [], "processes left running"
    assert sorted(p.name for p in private_tmp.iterdir()) == [], "temporary files left behind"


def test_dev_with_an_injected_failure_reports_the_stalled_job(tmp_path: Path) -> None:
    result = _run_dev(tmp_path, "--fail")
    assert result.returncode == 1, result.stderr
    assert "stalled (JobFailed)" in result.stdout
    assert _processes_mentioning(str(tmp_path / "tmp")) == []
