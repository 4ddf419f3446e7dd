"""The README's console sessions, replayed: each command runs against the console environment (the
`vertexops dev` job shape) and prints what the README shows.

`prompt`, the chat and `compare` must match exactly. `watch --once` must match line for line once numbers
and the curves are blurred: the curves' values depend on the emulated job's random id, but the frame
(states, titles, axes, legend, which rows carry a curve) may not drift from the README.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from console_support import Console

README = Path(__file__).resolve().parents[2] / "README.md"
DEMO_NAMESPACE = "vertexops-demo"
_FENCE = re.compile(r"^```(\S*)\s*$")


def _blocks() -> list[tuple[str, str]]:
    blocks: list[tuple[str, str]] = []
    language: str | None = None
    body: list[str] = []
    for line in README.read_text(encoding="utf-8").splitlines():
        fence = _FENCE.match(line)
        if language is None and fence:
            language, body = fence.group(1), []
        elif language is not None and line.strip() == "```":
            blocks.append((language, "\n".join(body) + "\n"))
            language = None
        elif language is not None:
            body.append(line)
    return blocks


def console_sessions() -> list[tuple[str, str]]:
    """(command, the output the README shows for it): each `sh` block of one console command followed by
    a `text` block."""
    blocks = _blocks()
    found = []
    for (language, text), (next_language, output) in itertools.pairwise(blocks):
        lines = [line for line in text.splitlines() if line.strip()]
        if language == "sh" and len(lines) == 1 and next_language == "text":
            words = shlex.split(lines[0])
            if words[:1] == [".venv/bin/vertexops"] or words[:2] == ["kubectl", "vertexops"]:
                found.append((lines[0], output))
    return found


SESSIONS = console_sessions()


def test_the_readme_shows_a_session_of_each_command() -> None:
    commands = [shlex.split(command) for command, _ in SESSIONS]
    subcommands = {words[2] if words[0] == "kubectl" else words[1] for words in commands}
    assert subcommands == {"prompt", "watch", "compare"}
    assert any(words[0] == "kubectl" for words in commands), "no kubectl plugin session"


def _blur(text: str) -> str:
    """Numbers become N; each plot row right of its y axis becomes one `~` if it holds any dot.

    Where on a row the dots fall follows the emulated job's values (its random id), so only the frame and
    which rows carry a curve are compared.
    """
    text = re.sub("[\u2800-\u28ff•]+", "~", text)
    text = re.sub(r"([│┤])[ ~]*~[ ~]*$", r"\1 ~", text, flags=re.MULTILINE)
    return re.sub(r"\d+(\.\d+)?", "N", text)


@pytest.mark.parametrize("command", [command for command, _ in SESSIONS])
def test_readme_session_output_is_what_the_command_prints(console: Console, command: str) -> None:
    shown = dict(SESSIONS)[command]
    words = shlex.split(command)
    words = [console.namespace if w == DEMO_NAMESPACE else w for w in words]
    env = console.env()
    if words[0] == "kubectl":
        scripts = Path(sys.executable).parent
        env["PATH"] = f"{scripts}{os.pathsep}{env.get('PATH', '')}"
        argv = [str(console.control_plane.tools.kubectl), *words[1:]]
    else:
        argv = [sys.executable, "-m", "controller.cli", *words[1:]]
    argv += ["--kubeconfig", str(console.control_plane.kubeconfig)]
    is_chat = shown.startswith("> ")  # a chat: the README shows the questions typed after "> "
    stdin = (
        "".join(line[2:] + "\n" for line in shown.splitlines() if line.startswith("> ")) if is_chat else None
    )
    result = subprocess.run(
        argv,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    if " watch " in f" {command} ":
        assert _blur(result.stdout).splitlines() == _blur(shown).splitlines()
    else:
        assert result.stdout == shown
