"""What can be checked of the operator image without a Docker engine: base, user, contents, entry point."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

from controller.cli import SUBCOMMANDS
from install.chart import CHART, ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SECRET_LOOKING = re.compile(
    r"(\.pem|\.key|\.p12|\.json|kubeconfig|credential|secret|token|\.env\b|id_rsa|\.ssh|\.git\b)", re.I
)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def of(keyword: str) -> list[str]:
    return [rest for kw, rest in instructions() if kw == keyword]


def test_base_image_is_python_311_slim_pinned_to_a_patch_version() -> None:
    bases = [rest.split()[0] for rest in of("FROM")]
    assert bases, "no FROM"
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base


def test_runs_as_a_numeric_non_root_user_matching_the_chart() -> None:
    users = of("USER")
    assert users, "no USER: the image would run as root"
    final_stage = DOCKERFILE.read_text().rsplit("\nFROM ", 1)[1]
    assert "USER " in final_stage, "the last stage must set USER"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) > 0, users[-1]
    assert not group or (group.isdigit() and int(group) > 0)
    chart_values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert chart_values["runAsUser"] == int(user)


def test_entry_point_is_the_cli_and_the_command_is_run() -> None:
    assert [json.loads(e) for e in of("ENTRYPOINT")] == [["vertexops"]]
    assert [json.loads(c) for c in of("CMD")] == [["run"]]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["vertexops"] == "controller.cli:main"
    assert SUBCOMMANDS["run"][0] == "controller.manager_cli"
    template = (CHART / "templates" / "deployment.yaml").read_text()
    chart_args = re.findall(r"^\s*args: (\[.*\])$", template, re.M)
    assert [json.loads(a) for a in chart_args] == [["run"]], "the chart must run the image's CMD"


def test_the_run_subcommand_starts_its_parser() -> None:
    """`vertexops run --help` is what the image's build stage runs as a smoke test; it must work here too."""
    result = subprocess.run(
        [sys.executable, "-m", "controller.cli", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--vertex-base-url" in result.stdout


def test_installs_with_the_constraints_file() -> None:
    runs = " ".join(of("RUN"))
    assert re.search(r"pip install (--constraint|-c) constraints\.txt", runs), runs


def test_copies_no_secrets_and_only_what_it_needs() -> None:
    sources = []
    for rest in of("COPY") + of("ADD"):
        parts = [p for p in rest.split() if not p.startswith("--")]
        if "--from=" in rest:
            continue
        sources += parts[:-1]
    assert not of("ADD"), "ADD can fetch URLs and unpack archives; use COPY"
    assert sources, "nothing copied"
    for source in sources:
        assert not SECRET_LOOKING.search(source), source
        assert source not in (".", "./", "*"), "copying the whole context would ship whatever lies there"
        assert (ROOT / source).exists(), f"{source} is not in the repository"
    for name, value in (rest.split("=", 1) for env in of("ENV") for rest in env.split() if "=" in rest):
        assert not SECRET_LOOKING.search(name), f"ENV {name}={value}"
    assert not of("ARG") or all(not SECRET_LOOKING.search(a) for a in of("ARG"))


@pytest.mark.parametrize(
    "path", ["admin.kubeconfig", "key.json", ".venv/bin/python", ".git/config", "tests/x.py"]
)
def test_dockerignore_keeps_everything_else_out_of_the_build_context(path: str) -> None:
    """An allowlist: `*` first, then only the copied paths; anything else never reaches the builder."""
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()]
    patterns = [line for line in lines if not line.startswith("#")]
    assert patterns[0] == "*"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    assert not any(path == a or path.startswith(a + "/") for a in allowed), path
