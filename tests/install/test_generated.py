"""The chart's CRDs and dashboard, the install bundle, the argocd-cm snippet and the metrics reference are
generated; a stale one fails here (and in `manifests/generate.py --check`, which CI runs)."""

from __future__ import annotations

import subprocess
import sys

from install.chart import ROOT


def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manifests" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
