"""`vertexops dev --node`: the demo with the operator as Pods of the chart; the samples reach Ready."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dev_node_runs_the_samples_as_pods(image_archive: Path) -> None:
    # Short, so that the node's sockets fit below it (see controller.testenv.node): then everything the
    # demo makes lands here, and what is left behind shows.
    private_tmp = Path(tempfile.mkdtemp(prefix="vxd-", dir="/tmp"))
    try:
        result = subprocess.run(
            [sys.executable, "-m", "controller.cli", "dev", "--node", "--exit-when-done", "--time-scale=300"],
            capture_output=True,
            text=True,
            timeout=900,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env={**os.environ, "TMPDIR": str(private_tmp), "PYTHONUNBUFFERED": "1"},
            check=False,
        )
        assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        assert "installing the Helm chart" in result.stderr + result.stdout
        assert "kubectl logs -n vertexops-system deploy/vertexops" in result.stdout
        assert "TuningJob support-assistant:" in result.stdout and "JOB_STATE_SUCCEEDED" in result.stdout
        assert sorted(p.name for p in private_tmp.iterdir()) == [], "temporary files left behind"
    finally:
        shutil.rmtree(private_tmp, ignore_errors=True)
