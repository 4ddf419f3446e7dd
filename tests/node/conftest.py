"""Fixtures of the real-node tests: the operator image, a node running it, the emulator where Pods reach it.

The node needs root (bridge, iptables, mounts, cgroups) and its tools (tools/install-node-tools.sh); the
tests are marked `node` so that a stage of tools/test.sh runs them on their own (`pytest -m node`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.testenv.node import Node
from emulator.config import EmulatorConfig
from emulator.server import Emulator
from node.cluster import start_node

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.node)
            # A node test's set-up may build the image, start a node and install the chart before the test
            # itself runs: allow for a busy 2-core machine (each wait inside has its own, shorter limit).
            item.add_marker(pytest.mark.timeout(1800))
            if os.geteuid() != 0:
                item.add_marker(pytest.mark.skip(reason="a real node needs root"))


@pytest.fixture(scope="session")
def image_archive() -> Path:
    """The operator image, built by the project's script (cached by its inputs)."""
    result = subprocess.run(
        ["bash", str(ROOT / "tools" / "build-image.sh")],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
        timeout=1800,
    )
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def node(image_archive: Path) -> Iterator[Node]:
    cluster = start_node(image_archive)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def emulator(node: Node) -> Iterator[Emulator]:
    """The fake Google APIs on the node's address, the way a user would run a private endpoint."""
    config = EmulatorConfig(
        time_scale=50, pending_seconds=60, step_seconds=5, total_steps=20, cancel_seconds=10
    )
    with Emulator(config, host=node.node_ip) as emu:
        yield emu
