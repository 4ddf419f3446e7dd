"""The snippets of docs/gitops.md that the tests apply, read from the page itself so the two cannot drift.

A snippet is the first fenced code block after a `<!-- snippet: NAME -->` comment.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

import yaml

from gitops_engines.manifests import ROOT

PAGE = ROOT / "docs" / "gitops.md"


def snippet(name: str) -> str:
    text = PAGE.read_text()
    match = re.search(rf"<!-- snippet: {re.escape(name)} -->\s*```[a-z]*\n(.*?)```", text, re.DOTALL)
    if match is None:
        raise KeyError(f"docs/gitops.md has no snippet {name!r}")
    return match.group(1)


def yaml_snippet(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load(snippet(name))
    assert isinstance(loaded, dict), f"snippet {name!r} is not a YAML mapping"
    return loaded


def command_snippet(name: str, program: str) -> list[str]:
    """The arguments of the one `program ...` command in a shell snippet (continuation lines joined)."""
    lines = snippet(name).replace("\\\n", " ").splitlines()
    [line] = [ln for ln in lines if ln.strip().startswith(program + " ")]
    return shlex.split(line)[1:]
