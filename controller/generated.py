"""Comparing generated files with the committed ones, for every generator's `--check` mode."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path


def stale(expected: Mapping[str, str], output_dir: Path, context: int = 2) -> list[tuple[Path, str]]:
    """(path, unified diff) for every file under `output_dir` that is missing or differs from `expected`.

    `expected` maps a path relative to `output_dir` to the content the generator produces now.
    """
    problems = []
    for name, content in expected.items():
        path = output_dir / name
        actual = path.read_text(encoding="utf-8") if path.exists() else ""
        if actual != content:
            diff = difflib.unified_diff(
                actual.splitlines(keepends=True),
                content.splitlines(keepends=True),
                fromfile=f"{path} (committed)" if path.exists() else f"{path} (missing)",
                tofile=f"{path} (generated)",
                n=context,
            )
            problems.append((path, "".join(diff)))
    return problems
