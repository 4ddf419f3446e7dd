"""The image tools/build-image.sh makes: the Dockerfile's user, entry point and environment, and nothing else.

What the Dockerfile's runtime stage declares is compared with the archive's config; its contents are read
from the layer: the package and its pins in /opt/vertexops, and no compiler, pip, pip cache or source tree.
"""

from __future__ import annotations

import json
import re
import tarfile
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SITE = "opt/vertexops/lib/python3.11/site-packages/"


@cache
def _read(archive: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    with tarfile.open(archive) as outer:
        index = json.load(outer.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(outer.extractfile(f"blobs/sha256/{manifest_digest}"))  # type: ignore[arg-type]
        config = json.load(outer.extractfile(f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}"))  # type: ignore[arg-type]
        layer = outer.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}")
        with tarfile.open(fileobj=layer, mode="r|") as inner:
            names = [m.name.removeprefix("./") for m in inner]
    return index, config, names


@pytest.fixture(scope="module")
def image(image_archive: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    return _read(image_archive)


def _dockerfile_runtime_stage() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stage = text.rsplit("\nFROM ", 1)[1]
    return [
        (line.split(" ", 1)[0].upper(), line.split(" ", 1)[1].strip())
        for line in (raw.strip() for raw in stage.splitlines()[1:])
        if line and not line.startswith("#")
    ]


def test_tagged_with_the_charts_repository_and_app_version(image: Any) -> None:
    index, _, _ = image
    chart = yaml.safe_load((ROOT / "charts" / "vertexops" / "Chart.yaml").read_text())
    values = yaml.safe_load((ROOT / "charts" / "vertexops" / "values.yaml").read_text())
    ref = index["manifests"][0]["annotations"]["io.containerd.image.name"]
    assert ref == f"{values['image']['repository']}:{chart['appVersion']}"


def test_user_entry_point_command_and_environment_are_the_dockerfiles(image: Any) -> None:
    _, config, _ = image
    stage = _dockerfile_runtime_stage()
    declared = dict(stage)
    assert config["config"]["User"] == declared["USER"] == "65532:65532"
    assert config["config"]["Entrypoint"] == json.loads(declared["ENTRYPOINT"]) == ["vertexops"]
    assert config["config"]["Cmd"] == json.loads(declared["CMD"]) == ["run"]
    env = dict(e.split("=", 1) for e in config["config"]["Env"])
    assert env["PATH"].startswith("/opt/vertexops/bin:")
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert env["MALLOC_ARENA_MAX"] == "2"
    assert "8080/tcp" in config["config"]["ExposedPorts"]
    assert config["config"]["Labels"]["org.opencontainers.image.title"] == "vertexops"


def test_holds_the_package_and_the_pinned_dependencies(image: Any) -> None:
    _, _, names = image
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    dist_infos = {n[len(SITE) :].split("/")[0] for n in names if n.startswith(SITE) and ".dist-info/" in n}
    assert f"vertexops-{version}.dist-info" in dist_infos
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().split() if "==" in line)
    normal = {k.lower().replace("-", "_"): v for k, v in pins.items()}
    for dist in dist_infos:
        name, _, installed = dist.removesuffix(".dist-info").partition("-")
        if name.lower() != "vertexops":
            assert normal.get(name.lower()) == installed, f"{dist} is not pinned by constraints.txt"
    assert "opt/vertexops/bin/vertexops" in names


@pytest.mark.parametrize(
    "forbidden",
    [
        r"^usr/bin/(gcc|cc|g\+\+|make)(-|$)",  # no compiler
        r"^opt/vertexops/bin/pip",  # no pip
        r"site-packages/(pip|setuptools)/",
        r"^root/\.cache/",  # no pip cache
        r"^tmp/.",  # nothing left in /tmp
        r"^src/|site-packages/controller/.*\.py[.]orig$|pyproject\.toml$",  # no source tree
        r"^usr/share/(doc|man)/.",
        r"site-packages/kubernetes/aio/",  # removed by both builds: never imported
    ],
)
def test_holds_nothing_else(image: Any, forbidden: str) -> None:
    _, _, names = image
    found = [n for n in names if re.search(forbidden, n)]
    assert not found, found[:10]


def test_python_files_are_compiled_ahead_so_a_read_only_root_needs_no_writes(image: Any) -> None:
    _, _, names = image
    compiled = set(names)
    for module in ("controller/manager_cli", "controller/reconciler", "kubernetes/client/api_client"):
        stem = module.rsplit("/", 1)
        assert f"{SITE}{stem[0]}/__pycache__/{stem[1]}.cpython-311.pyc" in compiled, module
    assert any(n.startswith("usr/lib/python3.11/json/__pycache__/") for n in names), "stdlib not compiled"
