"""Run the Go tests in tools/gitops: the Argo CD health checks in gopher-lua and kstatus on our status.

Go is on every development machine and in CI; the modules come from the Go module proxy into GOMODCACHE,
outside the repository, so only the first run pays for downloads and the build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

GO_MODULE = Path(__file__).resolve().parents[2] / "tools" / "gitops"


def test_go_checks_pass() -> None:
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not on PATH; install Go 1.24 or newer to run the GitOps health checks")
    env = {**os.environ, "GOFLAGS": "-mod=readonly"}  # go.mod and go.sum are committed: never rewrite them
    result = subprocess.run(
        [go, "test", "-count=1", "./..."],
        cwd=GO_MODULE,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"go test failed:\n{result.stdout}\n{result.stderr}"
    assert "ok  \tvertexops.dev/tools/gitops" in result.stdout
