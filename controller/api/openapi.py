"""Turn a pydantic model into a Kubernetes structural OpenAPI v3 schema.

The API server accepts only structural schemas: every node typed, no `$ref`, no `anyOf` carrying types, no
`additionalProperties: false`. Pydantic emits JSON Schema 2020-12, so this module inlines references, folds
optional fields (`anyOf` with null) into plain optional properties, rewrites numeric exclusive bounds into
the OpenAPI 3.0 form, turns map-key constraints into CEL, and expands the immutability marker into CEL
transition rules. Anything it does not understand is an error rather than silently dropped, so a schema
feature the API server would misread never reaches a CRD.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from controller.api.base import IMMUTABLE_MARKER

# Keywords copied through unchanged once their children are converted.
_PLAIN_KEYWORDS = frozenset(
    {
        "description",
        "type",
        "format",
        "enum",
        "default",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "required",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-preserve-unknown-fields",
    }
)
_DROPPED_KEYWORDS = frozenset({"title"})


class SchemaError(ValueError):
    """The model uses a schema feature that cannot be expressed in a structural CRD schema."""


def structural_schema(model: type[BaseModel], kind: str) -> dict[str, Any]:
    """The structural schema of `model`, with immutability rules whose messages name `kind`."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return _Converter(definitions, kind).convert(schema, path=model.__name__)


class _Converter:
    def __init__(self, definitions: dict[str, Any], kind: str) -> None:
        self._definitions = definitions
        self._kind = kind

    def convert(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        node = _key_pattern_as_property_names(self._flatten(node, path), path)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED_KEYWORDS or key == IMMUTABLE_MARKER:
                continue
            if key == "default" and value is None:
                continue
            if key == "additionalProperties" and value is False:
                continue  # unknown fields are rejected by the API server's strict field validation instead
            if key == "const":
                out["enum"] = [value]
            elif key in ("exclusiveMinimum", "exclusiveMaximum"):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                out[bound] = value
                out[key] = True
            elif key == "properties":
                properties = self._properties(value, set(node.get("required", ())), out, path)
                if properties:  # the API server drops an empty map, and then differs from the applied CRD
                    out["properties"] = properties
            elif key == "items":
                out["items"] = self.convert(value, f"{path}[]")
            elif key == "additionalProperties":
                out["additionalProperties"] = self.convert(value, f"{path}{{}}")
            elif key == "propertyNames":
                _add_rule(out, _key_rule(value, path))
            elif key == "x-kubernetes-validations":
                for rule in value:
                    _add_rule(out, rule)
            elif key in _PLAIN_KEYWORDS:
                out[key] = copy.deepcopy(value)
            else:
                raise SchemaError(f"{path}: schema keyword {key!r} has no structural CRD equivalent")
        if "type" not in out:
            raise SchemaError(f"{path}: every node of a structural schema needs a type")
        return out

    def _flatten(self, node: dict[str, Any], path: str) -> dict[str, Any]:
        """Inline `$ref`, one-element `allOf` and optional `anyOf`; the outer keys win (field over class)."""
        while True:
            if "$ref" in node:
                name = node["$ref"].rsplit("/", 1)[-1]
                inner = copy.deepcopy(self._definitions[name])
                node = _merge(inner, {k: v for k, v in node.items() if k != "$ref"})
            elif "allOf" in node and len(node["allOf"]) == 1:
                node = _merge(
                    copy.deepcopy(node["allOf"][0]), {k: v for k, v in node.items() if k != "allOf"}
                )
            elif "anyOf" in node:
                members = [m for m in node["anyOf"] if m != {"type": "null"}]
                if len(members) != 1:
                    raise SchemaError(f"{path}: a union of several types cannot be a structural schema")
                node = _merge(copy.deepcopy(members[0]), {k: v for k, v in node.items() if k != "anyOf"})
            elif "oneOf" in node or ("allOf" in node):
                raise SchemaError(
                    f"{path}: oneOf/allOf cannot be a structural schema; use OneOf rules instead"
                )
            else:
                return node

    def _properties(
        self, properties: dict[str, Any], required: set[str], parent: dict[str, Any], path: str
    ) -> dict[str, Any]:
        converted: dict[str, Any] = {}
        for name, raw in properties.items():
            child_path = f"{path}.{name}"
            flat = self._flatten(raw, child_path)
            if not flat.get("description"):
                raise SchemaError(f"{child_path}: every field needs a description (kubectl explain shows it)")
            child = self.convert(flat, child_path)
            if flat.get(IMMUTABLE_MARKER):
                self._make_immutable(child, name)
                if name not in required:
                    _add_rule(parent, self._presence_rule(name))
            converted[name] = child
        return converted

    def _make_immutable(self, schema: dict[str, Any], name: str) -> None:
        """Freeze a value: leaves compare with `oldSelf`, objects freeze each field and its presence.

        Rules sit on the leaves rather than on the whole object so the error names the field that changed.
        """
        properties = schema.get("properties")
        if schema.get("type") == "object" and properties:
            required = set(schema.get("required", ()))
            for child_name, child in properties.items():
                self._make_immutable(child, child_name)
                if child_name not in required:
                    _add_rule(schema, self._presence_rule(child_name))
            return
        _add_rule(
            schema,
            {
                "rule": "self == oldSelf",
                "message": f"{name} is immutable: create a new {self._kind} to change it",
            },
        )

    def _presence_rule(self, name: str) -> dict[str, str]:
        return {
            "rule": f"has(self.{name}) == has(oldSelf.{name})",
            "message": (
                f"{name} cannot be added or removed after creation: create a new {self._kind} to change it"
            ),
            "fieldPath": f".{name}",
        }


def _key_pattern_as_property_names(node: dict[str, Any], path: str) -> dict[str, Any]:
    """Pydantic writes a map with constrained keys as `patternProperties`; a CRD has only
    `additionalProperties`, so the key pattern joins the other key constraints (checked by CEL)."""
    if "patternProperties" not in node:
        return node
    node = dict(node)
    patterns: dict[str, Any] = node.pop("patternProperties")
    if len(patterns) != 1 or "additionalProperties" in node:
        raise SchemaError(f"{path}: a map needs exactly one value schema")
    ((pattern, values),) = patterns.items()
    node["additionalProperties"] = values
    node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
    return node


def _merge(inner: dict[str, Any], outer: dict[str, Any]) -> dict[str, Any]:
    merged = {**inner, **outer}
    rules = inner.get("x-kubernetes-validations", []) + outer.get("x-kubernetes-validations", [])
    if rules:
        merged["x-kubernetes-validations"] = rules
    return merged


def _add_rule(schema: dict[str, Any], rule: dict[str, str]) -> None:
    rules: list[dict[str, str]] = schema.setdefault("x-kubernetes-validations", [])
    if rule not in rules:
        rules.append(rule)


def _key_rule(names: dict[str, Any], path: str) -> dict[str, str]:
    """CEL for constraints on map keys, which OpenAPI in CRDs cannot state (no `propertyNames`)."""
    checks: list[str] = []
    words: list[str] = []
    if "minLength" in names:
        checks.append(f"size(k) >= {names['minLength']}")
        words.append("non-empty" if names["minLength"] == 1 else f"at least {names['minLength']} characters")
    if "maxLength" in names:
        checks.append(f"size(k) <= {names['maxLength']}")
        words.append(f"at most {names['maxLength']} characters")
    if "pattern" in names:
        pattern = names["pattern"]
        if "'" in pattern:
            raise SchemaError(f"{path}: a key pattern cannot contain a single quote")
        checks.append(f"k.matches(r'{pattern}')")
        words.append(f"matching {pattern}")
    unknown = set(names) - {"minLength", "maxLength", "pattern", "type", "title"}
    if unknown or not checks:
        raise SchemaError(f"{path}: unsupported key constraints {sorted(unknown)}")
    return {
        "rule": f"self.all(k, {' && '.join(checks)})",
        "message": "every key must be " + ", ".join(words),
    }
