"""`vertexops docs`: the pages say what the CRDs, reasons and options say, and `--check` catches drift."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from controller import docgen
from controller.api.base import IMMUTABLE_MARKER
from controller.api.conditions import REASONS, ConditionType, Reason
from controller.config import OPTIONS
from controller.crdgen import KINDS, crd_manifests


def _crd(kind: str) -> dict[str, Any]:
    return next(c for c in crd_manifests() if c["spec"]["names"]["kind"] == kind)


def _schema(kind: str, part: str) -> dict[str, Any]:
    schema: dict[str, Any] = _crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema["properties"][part]  # type: ignore[no-any-return]


def _fields(kind: str, part: str) -> dict[str, docgen.FieldDoc]:
    return {f.path: f for f in docgen.walk_fields(_schema(kind, part), part)}


def _marked_immutable(model: type[BaseModel]) -> set[str]:
    """Spec paths the pydantic models mark immutable (and everything inside them), read without the CRD."""
    schema = model.model_json_schema(by_alias=True)
    definitions = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while True:
            if "$ref" in node:
                node = {**definitions[node["$ref"].rsplit("/", 1)[-1]], **node}
                node.pop("$ref")
            elif "anyOf" in node:
                inner = next(m for m in node["anyOf"] if m != {"type": "null"})
                node = {**inner, **{k: v for k, v in node.items() if k != "anyOf"}}
            else:
                return node

    found: set[str] = set()

    def walk(node: dict[str, Any], path: str, frozen: bool) -> None:
        node = resolve(node)
        for name, raw in (node.get("properties") or {}).items():
            child = resolve(raw)
            child_path = f"{path}.{name}"
            immutable = frozen or bool(raw.get(IMMUTABLE_MARKER) or child.get(IMMUTABLE_MARKER))
            if immutable:
                found.add(child_path)
            walk(child, child_path, immutable)
            if child.get("type") == "array" and "items" in child:
                walk(child["items"], f"{child_path}[]", immutable)

    walk(schema, "spec", False)
    return found


@pytest.mark.parametrize(
    ("info", "spec_model"), [(info, spec) for info, spec, _ in KINDS], ids=[info.kind for info, _, _ in KINDS]
)
def test_immutable_fields_are_the_ones_the_models_mark(info: Any, spec_model: type[BaseModel]) -> None:
    documented = {path for path, f in _fields(info.kind, "spec").items() if f.immutable}
    marked = _marked_immutable(spec_model)
    # A tenant is a cluster admin's policy, changed at will; the remote-job kinds have immutable inputs.
    assert bool(documented) == info.namespaced, f"{info.kind}: immutability not read from the CEL rules"
    assert documented == marked


def test_tuning_job_fields_carry_type_default_and_constraints() -> None:
    fields = _fields("TuningJob", "spec")
    policy = fields["spec.deletionPolicy"]
    assert (policy.type, policy.default, policy.immutable) == ("string", None, False)
    assert "one of `Cancel`, `Orphan`, `Delete`" in policy.constraints
    assert "When absent: Cancel, except for a job imported" in policy.description
    assert not fields["spec.baseModel"].required  # required unless spec.jobName imports a job
    assert "Required unless spec.preTunedModel is given or spec.jobName imports a job" in (
        fields["spec.baseModel"].description
    )
    assert not fields["spec.projectID"].required
    assert "at least 1" in fields["spec.supervisedTuningSpec.hyperParameters.epochCount"].constraints
    assert (
        "greater than 0"
        in fields["spec.supervisedTuningSpec.hyperParameters.learningRateMultiplier"].constraints
    )
    labels = fields["spec.labels"]
    assert labels.type == "map of string to string"
    assert "at most 60 entries" in labels.constraints
    assert any("reserved for the operator" in c for c in labels.constraints)
    assert any(c.startswith("each value: at most 63 characters") for c in labels.constraints)
    assert fields["spec.testPrompts"].constraints == ("at most 20 items",)
    assert "0 to 2" in fields["spec.testPrompts[].generationConfig.temperature"].constraints


def test_tuned_model_one_of_rules_are_documented() -> None:
    page = docgen.reference_page(_crd("TunedModel"))
    assert "exactly one of baseModel or tunedModelSource must be set" in page
    assert "exactly one of examples or configMapRef must be set" in page
    assert "spec.tunedModelId is required when metadata.name is not a valid tuned model ID" in page


@pytest.mark.parametrize("kind", ["TuningJob", "TunedModel"])
def test_reference_page_lists_every_field(kind: str) -> None:
    page = docgen.reference_page(_crd(kind))
    for path in _fields(kind, "spec"):
        assert f"### `{path}`" in page, path
    for path in _fields(kind, "status"):
        assert f"| `{path}` |" in page, path
    for column in _crd(kind)["spec"]["versions"][0]["additionalPrinterColumns"]:
        assert f"| {column['name']} |" in page


def test_conditions_page_has_every_type_and_reason() -> None:
    page = docgen.conditions_page()
    for condition_type in ConditionType:
        assert f"| `{condition_type.value}` |" in page
    for reason in Reason:
        row = next(line for line in page.splitlines() if line.startswith(f"| `{reason.value}` |"))
        assert REASONS[reason].meaning in row and REASONS[reason].action in row


def test_configuration_page_has_every_option_and_the_chart_value_setting_it() -> None:
    template = docgen.CHART_DEPLOYMENT.read_text()
    page = docgen.configuration_page(template)
    rows = {line.split("|")[2].strip(): line for line in page.splitlines() if line.startswith("| `--")}
    for option in OPTIONS:
        assert f"`{option.env}`" in rows, option.env
        assert rows[f"`{option.env}`"].startswith(f"| `{option.flag}` |")
    chart_envs = set(re.findall(r"name:\s*(VERTEXOPS_\w+)", template))
    assert chart_envs, "the chart's Deployment sets no VERTEXOPS_ variables?"
    for env in chart_envs:
        helm_column = rows[f"`{env}`"].split("|")[5].strip()
        assert helm_column, f"{env} is set by the chart but the page names no chart value"
    assert "`google.project`" in rows["`VERTEXOPS_PROJECT`"]
    assert "the release namespace" in rows["`VERTEXOPS_LEASE_NAMESPACE`"]


def test_chart_values_by_env_reads_each_form() -> None:
    template = """
            {{- with .Values.google.project }}
            - name: VERTEXOPS_PROJECT
              value: {{ . | quote }}
            {{- end }}
            - name: VERTEXOPS_WORKERS
              value: {{ .Values.operator.workers | quote }}
            - name: VERTEXOPS_LEASE_NAMESPACE
              value: {{ .Release.Namespace | quote }}
            - name: VERTEXOPS_HTTP_PORT
              value: "8080"
"""
    assert docgen.chart_values_by_env(template) == {
        "VERTEXOPS_PROJECT": "`google.project`",
        "VERTEXOPS_WORKERS": "`operator.workers`",
        "VERTEXOPS_LEASE_NAMESPACE": "the release namespace",
        "VERTEXOPS_HTTP_PORT": "fixed: `8080`",
    }


def _run(output_dir: Path, check: bool) -> int:
    parser = argparse.ArgumentParser()
    docgen.add_arguments(parser)
    return docgen.run(parser.parse_args(["--output-dir", str(output_dir), *(["--check"] if check else [])]))


def test_check_fails_naming_a_stale_or_missing_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path, check=False) == 0
    assert _run(tmp_path, check=True) == 0
    stale = tmp_path / "reference" / "tuningjob.md"
    stale.write_text(stale.read_text().replace("Gemini model to tune", "A model to tune"))
    (tmp_path / "conditions.md").unlink()
    capsys.readouterr()
    assert _run(tmp_path, check=True) == 1
    err = capsys.readouterr().err
    assert f"stale: {stale}" in err
    assert f"stale: {tmp_path / 'conditions.md'}" in err
    assert "configuration.md" not in err
    assert "+Gemini model to tune" in err  # the diff shows what the generator would write


def test_committed_pages_are_current() -> None:
    assert docgen.stale_pages(docgen.DEFAULT_OUTPUT_DIR) == []
