"""The CRD generator: structural schemas, descriptions, immutability rules, determinism, staleness check."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from controller import crdgen
from controller.api.openapi import SchemaError, structural_schema

TUNED_MODEL_MUTABLE = {
    "displayName",
    "description",
    "temperature",
    "topP",
    "topK",
    "readerProjectNumbers",
    "apiKeySecretRef",
    "deletionPolicy",
    "testPrompts",
}
FORBIDDEN_KEYWORDS = {
    "$ref",
    "$defs",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "nullable",
    "title",
    "patternProperties",
}


def _schemas() -> Iterator[tuple[str, dict[str, Any]]]:
    for manifest in crdgen.crd_manifests():
        yield manifest["spec"]["names"]["kind"], manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _walk(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


def _spec_schema(kind: str) -> dict[str, Any]:
    return dict(_schemas())[kind]["properties"]["spec"]


def _rules(node: dict[str, Any]) -> list[str]:
    return [rule["rule"] for rule in node.get("x-kubernetes-validations", [])]


def _subtree_rules(node: dict[str, Any]) -> list[str]:
    return [rule for _, child in _walk(node, "") for rule in _rules(child)]


def test_crds_with_expected_names() -> None:
    manifests = crdgen.crd_manifests()
    assert [m["metadata"]["name"] for m in manifests] == [
        "tuningjobs.tuning.vertexops.dev",
        "tunedmodels.tuning.vertexops.dev",
        "tuningtenants.tuning.vertexops.dev",
    ]
    for manifest, short in zip(manifests[:2], ("tj", "tm"), strict=True):
        names = manifest["spec"]["names"]
        assert names["shortNames"] == [short]
        assert names["categories"] == ["vertexops"]
        assert manifest["spec"]["scope"] == "Namespaced"
        version = manifest["spec"]["versions"][0]
        assert version["name"] == "v1alpha1"
        assert version["subresources"] == {"status": {}}
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert {"State", "Ready", "Age"} <= set(columns)


def test_tenant_kind_is_cluster_scoped_and_outside_the_tenants_category() -> None:
    """Cluster scope is what keeps the built-in namespace roles (admin, edit) from ever granting it."""
    tenant = crdgen.crd_manifests()[2]
    assert tenant["spec"]["scope"] == "Cluster"
    assert tenant["spec"]["names"]["shortNames"] == ["ttn"]
    assert "categories" not in tenant["spec"]["names"]
    spec = tenant["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert set(spec["required"]) == {"namespaces", "projects", "datasetURIPrefixes"}
    assert not any("oldSelf" in rule for rule in _subtree_rules(spec)), "a tenant's fields are all mutable"


def test_schemas_are_structural() -> None:
    for kind, schema in _schemas():
        for path, node in _walk(schema, kind):
            assert "type" in node, f"{path} has no type"
            assert not FORBIDDEN_KEYWORDS & node.keys(), f"{path} uses {FORBIDDEN_KEYWORDS & node.keys()}"
            assert node.get("additionalProperties") is not False, path
            assert not any(key.startswith("x-vertexops") for key in node), path
            if "exclusiveMinimum" in node:
                assert node["exclusiveMinimum"] is True and "minimum" in node, path


def test_every_field_has_a_description() -> None:
    for kind, schema in _schemas():
        for path, node in _walk(schema, kind):
            if path == f"{kind}.metadata":
                continue  # the API server forbids anything but a type on metadata
            if path.endswith(("{}", "[]")) and node["type"] != "object":
                continue  # plain values of a map or list are described by the map's or list's description
            assert node.get("description"), f"{path} has no description"


def test_enums_ranges_and_patterns_reach_the_crd() -> None:
    hyper = _spec_schema("TuningJob")["properties"]["supervisedTuningSpec"]["properties"]["hyperParameters"]
    assert "ADAPTER_SIZE_FOUR" in hyper["properties"]["adapterSize"]["enum"]
    assert "ADAPTER_SIZE_UNSPECIFIED" not in hyper["properties"]["adapterSize"]["enum"]
    assert hyper["properties"]["epochCount"]["minimum"] == 1
    assert hyper["properties"]["learningRateMultiplier"] == {
        **hyper["properties"]["learningRateMultiplier"],
        "minimum": 0,
        "exclusiveMinimum": True,
    }
    model = _spec_schema("TunedModel")["properties"]
    assert model["tunedModelId"]["pattern"] == "^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$"
    assert model["displayName"]["maxLength"] == 40
    assert (model["temperature"]["minimum"], model["temperature"]["maximum"]) == (0, 1)
    assert model["deletionPolicy"]["default"] == "Delete"
    assert _spec_schema("TuningJob")["properties"]["deletionPolicy"]["enum"] == ["Cancel", "Orphan", "Delete"]


@pytest.mark.parametrize(
    ("kind", "mutable"),
    [
        ("TuningJob", {"deletionPolicy", "adoptionPolicy", "testPrompts", "publish", "preflight"}),
        ("TunedModel", TUNED_MODEL_MUTABLE),
    ],
)
def test_exactly_the_remote_inputs_are_immutable(kind: str, mutable: set[str]) -> None:
    spec = _spec_schema(kind)
    required = set(spec.get("required", ()))
    for name, field in spec["properties"].items():
        frozen = "self == oldSelf" in _subtree_rules(field)
        presence = f"has(self.{name}) == has(oldSelf.{name})" in _rules(spec)
        if name in mutable:
            assert not frozen and not presence, f"{kind}.spec.{name} should stay mutable"
        else:
            assert frozen, f"{kind}.spec.{name} has no immutability rule"
            assert presence or name in required, f"{kind}.spec.{name} can be added or removed"


def test_cel_touched_strings_and_lists_are_bounded() -> None:
    """The API server estimates CEL cost from maxLength/maxItems; unbounded values can exceed its budget."""
    for kind, schema in _schemas():
        for path, node in _walk(schema["properties"]["spec"], f"{kind}.spec"):
            if "self == oldSelf" not in _rules(node):
                continue
            for inner_path, inner in _walk(node, path):
                if inner["type"] == "string" and "enum" not in inner:
                    assert "maxLength" in inner, f"{inner_path} is compared by CEL but has no maxLength"
                if inner["type"] == "array":
                    assert "maxItems" in inner, f"{inner_path} is compared by CEL but has no maxItems"
                if inner["type"] == "object" and "additionalProperties" in inner:
                    assert "maxProperties" in inner, (
                        f"{inner_path} is compared by CEL but has no maxProperties"
                    )


def test_no_schema_holds_an_empty_map() -> None:
    """The API server drops an empty `properties` (omitempty), so the stored CRD would differ from the one
    applied, and a later server-side apply by another field manager (kubectl, Helm) would conflict."""
    for kind, schema in _schemas():
        for path, node in _walk(schema, kind):
            for key in ("properties", "items", "additionalProperties"):
                assert node.get(key) != {}, f"{path}.{key} is empty"


def test_generation_is_deterministic() -> None:
    first = crdgen.rendered_files()
    second = crdgen.rendered_files()
    assert first == second
    assert sorted(first) == [
        "tuning.vertexops.dev_tunedmodels.yaml",
        "tuning.vertexops.dev_tuningjobs.yaml",
        "tuning.vertexops.dev_tuningtenants.yaml",
    ]
    for text in first.values():
        assert yaml.safe_load(text)["kind"] == "CustomResourceDefinition"


def test_committed_crds_are_current() -> None:
    assert crdgen.stale_files(crdgen.DEFAULT_OUTPUT_DIR) == [], "run `vertexops crds` and commit crds/"


def _args(output_dir: Path, check: bool) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    crdgen.add_arguments(parser)
    return parser.parse_args(["--output-dir", str(output_dir), *(["--check"] if check else [])])


def test_write_then_check_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crdgen.run(_args(tmp_path, check=False)) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(crdgen.rendered_files())
    assert crdgen.run(_args(tmp_path, check=True)) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_fails_on_a_stale_file_and_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crdgen.run(_args(tmp_path, check=False))
    stale = tmp_path / "tuning.vertexops.dev_tunedmodels.yaml"
    stale.write_text(stale.read_text().replace("maxLength: 40", "maxLength: 41"))
    capsys.readouterr()
    assert crdgen.run(_args(tmp_path, check=True)) == 1
    err = capsys.readouterr().err
    assert f"{stale} (committed)" in err
    # A unified diff: the committed line removed, the generated one added.
    assert re.search(r"^-\s+maxLength: 41$", err, re.M), err
    assert re.search(r"^\+\s+maxLength: 40$", err, re.M), err
    assert "tuningjobs.yaml" not in err  # the current file is not reported
    assert "1 CRD file(s)" in err


def test_check_fails_on_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert crdgen.run(_args(tmp_path, check=True)) == 1
    assert "(missing)" in capsys.readouterr().err


def test_converter_refuses_what_a_crd_cannot_express() -> None:
    class Union(BaseModel):
        value: int | str = Field(description="Either.")

    class Undocumented(BaseModel):
        value: int

    with pytest.raises(SchemaError, match="union"):
        structural_schema(Union, "X")
    with pytest.raises(SchemaError, match="description"):
        structural_schema(Undocumented, "X")
