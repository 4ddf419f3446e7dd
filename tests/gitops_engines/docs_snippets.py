"""The snippets of docs/gitops.md that the tests apply, read from the page itself so the two cannot drift.

A snippet is the first fenced code block after a `<!-- snippet: NAME -->` comment (another comment may
stand between the two, as the markers of a generated block do). Every fenced block of the page is a named
snippet, and every name is applied by a test of this package (test_docs.py checks both).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gitops_engines.manifests import ROOT

PAGE = ROOT / "docs" / "gitops.md"


def snippet(name: str) -> str:
    text = PAGE.read_text()
    match = re.search(
        rf"<!-- snippet: {re.escape(name)} -->\s*(?:<!--[^\n]*-->\s*)?```[a-z]*\n(.*?)```", text, re.DOTALL
    )
    if match is None:
        raise KeyError(f"docs/gitops.md has no snippet {name!r}")
    return match.group(1)


def yaml_snippet(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load(snippet(name))
    assert isinstance(loaded, dict), f"snippet {name!r} is not a YAML mapping"
    return loaded


def commands(name: str) -> list[list[str]]:
    """The commands of a shell snippet, each split as the shell would (continuation lines joined, `$ `
    prompts and `#` comments dropped; a line that is not a command, e.g. quoted output, is left out)."""
    found = []
    for raw in snippet(name).replace("\\\n", " ").splitlines():
        line = raw.strip().removeprefix("$ ")
        if re.match(r"(kubectl|helm) ", line):
            found.append(shlex.split(line, comments=True))
    return found


def command_snippet(name: str, program: str) -> list[str]:
    """The arguments of the one `program ...` command in a shell snippet."""
    [argv] = [c for c in commands(name) if c[0] == program]
    return argv[1:]


def names() -> list[str]:
    return re.findall(r"<!-- snippet: ([a-z0-9-]+) -->", PAGE.read_text())


def unnamed_blocks() -> list[str]:
    """The fenced blocks of the page that no snippet marker names (their first line, to point at them)."""
    text = PAGE.read_text()
    unnamed = []
    for match in re.finditer(r"^```[a-z]*\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
        before = text[: match.start()].rstrip().splitlines()
        preceding = [ln for ln in before[-2:] if ln.startswith("<!--")]
        if not any(ln.startswith("<!-- snippet: ") for ln in preceding):
            unnamed.append(match.group(1).splitlines()[0] if match.group(1) else "(empty block)")
    return unnamed


def run_shell(
    name: str, kubeconfig: Path, tools_dirs: Sequence[Path], *, check: bool = True, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run a shell snippet as a user would, from the repository's root (its paths are relative to it), with
    `kubeconfig` as the current cluster and `tools_dirs` (kubectl, helm) first on PATH."""
    path = ":".join([*(str(d) for d in tools_dirs), os.environ.get("PATH", "/usr/bin:/bin")])
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PATH": path}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", snippet(name)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snippet {name!r} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result
