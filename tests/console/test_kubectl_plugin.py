"""`kubectl vertexops ...`: the installed `kubectl-vertexops` found by the real kubectl on PATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from console_support import Console

from emulator.generation import answer_words


def test_kubectl_runs_the_plugin_with_its_usual_flags(console: Console) -> None:
    scripts = Path(sys.executable).parent
    assert (scripts / "kubectl-vertexops").exists(), "the package installs no kubectl-vertexops"
    kubectl = str(console.control_plane.tools.kubectl)
    env = {**console.env(), "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}"}
    context = subprocess.run(
        [kubectl, "config", "current-context", f"--kubeconfig={console.control_plane.kubeconfig}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    result = subprocess.run(
        [
            kubectl,
            "vertexops",
            "prompt",
            "tj/support-assistant",
            "Where is my parcel?",
            "-n",
            console.namespace,
            "--kubeconfig",
            str(console.control_plane.kubeconfig),
            "--context",
            context,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == " ".join(answer_words("support-assistant-v1", "Where is my parcel?")) + "\n"

    help_text = subprocess.run(
        [kubectl, "vertexops", "--help"], capture_output=True, text=True, env=env, timeout=60, check=False
    ).stdout
    assert help_text.startswith("usage: kubectl vertexops")
    assert all(command in help_text for command in ("prompt", "watch", "compare"))

    wrong_context = subprocess.run(
        [
            kubectl,
            "vertexops",
            "watch",
            "tj/support-assistant",
            "--once",
            "--context",
            "nope",
            "--kubeconfig",
            str(console.control_plane.kubeconfig),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert wrong_context.returncode == 1
    assert wrong_context.stderr.startswith("error: cannot load the kubeconfig:")
    assert wrong_context.stderr.count("\n") == 1
