"""Read the README: its shell commands, its other code blocks, and its relative links.

A command is one logical line of a `sh`/`bash`/`shell`/`console` block: continuation lines (ending in
`\\`) are joined, a leading `$ ` prompt is dropped, comments and blank lines are skipped, and runs of spaces
collapse so that the coverage table can name a command exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

SHELL_LANGUAGES = frozenset({"sh", "bash", "shell", "console"})
_FENCE = re.compile(r"^```(\S*)\s*$")
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@dataclass(frozen=True)
class CodeBlock:
    language: str
    text: str
    line: int  # 1-based line of the opening fence


def code_blocks(markdown: str) -> list[CodeBlock]:
    blocks: list[CodeBlock] = []
    language: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(markdown.splitlines(), start=1):
        match = _FENCE.match(line)
        if language is None and match:
            language, start, body = match.group(1), number, []
        elif language is not None and line.strip() == "```":
            blocks.append(CodeBlock(language, "\n".join(body) + "\n", start))
            language = None
        elif language is not None:
            body.append(line)
    if language is not None:
        raise ValueError(f"README: code block opened on line {start} is never closed")
    return blocks


def shell_commands(markdown: str) -> list[str]:
    """Every command of the shell blocks, in order, normalized (duplicates kept)."""
    commands: list[str] = []
    for block in code_blocks(markdown):
        if block.language not in SHELL_LANGUAGES:
            continue
        pending = ""
        for raw in block.text.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            line = line.removeprefix("$ ")
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            commands.append(" ".join((pending + line).split()))
            pending = ""
        if pending:
            commands.append(" ".join(pending.split()))
    return commands


def blocks_of(markdown: str, language: str) -> list[str]:
    return [block.text for block in code_blocks(markdown) if block.language == language]


def relative_links(markdown: str) -> list[str]:
    """Link targets that point into the repository (not URLs, not in-page anchors)."""
    return [
        target
        for target in _LINK.findall(markdown)
        if not re.match(r"^[a-z]+:", target) and not target.startswith("#")
    ]
