"""Fail when a committed generated file differs from what its generator produces now.

Every generator has a `--check` mode that exits non-zero and names the stale file; CI runs them all here.
"""

from __future__ import annotations

import subprocess
import sys

CHECKS: list[list[str]] = [
    [sys.executable, "-m", "controller.cli", "crds", "--check"],
    [sys.executable, "-m", "controller.cli", "docs", "--check"],
    [sys.executable, "manifests/generate.py", "--check"],
]


def main() -> int:
    failures = [cmd for cmd in CHECKS if subprocess.run(cmd, check=False).returncode != 0]
    for cmd in failures:
        print(f"check-generated: stale output: {' '.join(cmd[2:])}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
