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
_LINK = re.compile(r"\]\(([^)\s]+)\)")


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


def relative_links(markdown: str) -> list[tuple[str, str]]:
    """(path, anchor) of every link that points into the repository or the page itself (not to a URL).

    The path is "" for an in-page link; the anchor is "" when the link names none. Links inside code blocks
    and code spans are not links.
    """
    prose = re.sub(r"`[^`]*`", "", _without_code_blocks(markdown))
    found = []
    for target in _LINK.findall(prose):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        found.append((path, anchor))
    return found


def heading_anchors(markdown: str) -> set[str]:
    """The ids GitHub gives the page's headings: lower case, punctuation dropped, spaces as hyphens, and
    `-1`, `-2`, ... on repeats."""
    anchors: set[str] = set()
    for line in _without_code_blocks(markdown).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        anchor, n = base, 0
        while anchor in anchors:
            n += 1
            anchor = f"{base}-{n}"
        anchors.add(anchor)
    return anchors


def _without_code_blocks(markdown: str) -> str:
    kept, inside = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inside = not inside
            continue
        if not inside:
            kept.append(line)
    return "\n".join(kept)
