"""docs/gitops.md shows only what the tests run: every fenced block of the page is a named snippet, and every
snippet is applied by a test of this package (read from the page itself, through docs_snippets)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitops_engines import docs_snippets

pytestmark = pytest.mark.gitops_engines

HERE = Path(__file__).parent


def test_every_block_of_the_page_is_a_named_snippet() -> None:
    assert docs_snippets.unnamed_blocks() == []
    names = docs_snippets.names()
    assert len(names) == len(set(names)), names


def test_every_snippet_of_the_page_is_applied_by_a_test() -> None:
    sources = "\n".join(p.read_text() for p in HERE.glob("test_*.py") if p.name != Path(__file__).name)
    used = set(
        re.findall(
            r"""(?:snippet|commands|command_snippet|yaml_snippet|run_shell)\(\s*"([a-z0-9-]+)\"""", sources
        )
    )
    assert set(docs_snippets.names()) <= used, sorted(set(docs_snippets.names()) - used)
