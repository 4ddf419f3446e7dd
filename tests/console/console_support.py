"""What the console tests share: the environment they run in, and running `vertexops ...` as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources as package_files
from typing import Any

import yaml
from kubernetes import client as k8s

from controller.api.resource import GROUP, VERSION
from controller.testenv.controlplane import ControlPlane
from emulator.server import Emulator

API_KEY = "console-test-api-key"
PROJECT = "vertexops-demo"
# Real seconds between streamed chunks: long enough that "the first chunk is printed before the last is
# sent" is a statement about the client's buffering, not about luck.
CHUNK_SECONDS = 0.4
# `vertexops dev`'s job shape runs in 4 seconds at this speed.
TIME_SCALE = 300.0


@dataclass
class Console:
    """What the tests need: where things are, and a way to run `vertexops ...` as the user would."""

    control_plane: ControlPlane
    emulator: Emulator
    namespace: str
    api: k8s.ApiClient

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "VERTEXOPS_VERTEX_BASE_URL": self.emulator.url,
            "VERTEXOPS_GEMINI_BASE_URL": self.emulator.url,
            "PYTHONIOENCODING": "utf-8",
            "COLUMNS": "100",
        }

    def argv(self, *args: str, namespace: str | None = None) -> list[str]:
        command, *rest = args
        return [
            sys.executable,
            "-m",
            "controller.cli",
            command,
            *rest,
            "-n",
            namespace or self.namespace,
            "--kubeconfig",
            str(self.control_plane.kubeconfig),
        ]

    def run(
        self, *args: str, namespace: str | None = None, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args, namespace=namespace),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
            check=False,
        )

    def get(self, plural: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = k8s.CustomObjectsApi(self.api).get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, name
        )
        return obj

    def create(self, plural: str, obj: dict[str, Any], namespace: str | None = None) -> None:
        k8s.CustomObjectsApi(self.api).create_namespaced_custom_object(
            GROUP, VERSION, namespace or self.namespace, plural, obj
        )

    def wait_ready(self, plural: str, name: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            obj = self.get(plural, name)
            for c in (obj.get("status") or {}).get("conditions") or []:
                if c["type"] == "Ready" and c["status"] == "True":
                    return obj
            time.sleep(0.3)
        raise AssertionError(f"{plural}/{name} not Ready after {timeout}s: {obj.get('status')}")


def sample(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(package_files.files("controller.samples").joinpath(name).read_text())
    return doc
