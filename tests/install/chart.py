"""Render the chart with a real Helm and pick objects out of the result."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "vertexops"
INSTALL_BUNDLE = ROOT / "manifests" / "install.yaml"
DASHBOARD = CHART / "dashboards" / "vertexops.json"

Doc = dict[str, Any]


def helm(
    binary: Path, *args: str, values: dict[str, Any] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run Helm with `values` in a values file (so types survive, unlike --set)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(values or {}, handle)
        values_file = handle.name
    try:
        result = subprocess.run(
            [str(binary), *args, "-f", values_file], capture_output=True, text=True, timeout=120, check=False
        )
    finally:
        Path(values_file).unlink()
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


def render(
    binary: Path, values: dict[str, Any] | None = None, release: str = "vertexops", namespace: str = "ops"
) -> list[Doc]:
    out = helm(binary, "template", release, str(CHART), "--namespace", namespace, values=values).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(docs: list[Doc], kind: str, name: str | None = None, namespace: str | None = None) -> list[Doc]:
    return [
        d
        for d in docs
        if d["kind"] == kind
        and (name is None or d["metadata"]["name"] == name)
        and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]


def one(docs: list[Doc], kind: str, name: str | None = None, namespace: str | None = None) -> Doc:
    found = find(docs, kind, name, namespace)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(deployment: Doc) -> Doc:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_of(deployment: Doc) -> dict[str, str]:
    """The Deployment's environment; every entry is a plain value (no valueFrom) so a process can use it."""
    env = container(deployment).get("env") or []
    assert all("value" in e and "valueFrom" not in e for e in env), env
    return {e["name"]: e["value"] for e in env}


def dashboard_metric_names() -> set[str]:
    """Every metric name the dashboard's queries and variables use, as it appears in a scrape."""
    text = json.dumps(json.loads(DASHBOARD.read_text()))
    return set(re.findall(r"\bvertexops_[a-z_]+\b", text))
