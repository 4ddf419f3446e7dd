"""Generate the user reference from the code it describes; with `--check`, fail when a page is stale.

| page | source |
|---|---|
| `docs/reference/tuningjob.md`, `tunedmodel.md` | the CRDs, from `controller.crdgen.crd_manifests()` |
| `docs/conditions.md` | `controller.api.conditions.REASONS` |
| `docs/configuration.md` | `controller.config.OPTIONS`, and the chart's Deployment for each Helm value |

The field reference is read from the generated CRD rather than from the pydantic models, so it documents
exactly what the API server enforces: the defaults, enums and bounds it applies, and the CEL rules that reject
a change to an immutable field at `kubectl apply`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.generated import stale

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = ROOT / "docs"
CHART_DEPLOYMENT = ROOT / "charts" / "vertexops" / "templates" / "deployment.yaml"

_IMMUTABLE_RULE = "self == oldSelf"
_PRESENCE_RULE = re.compile(r"^has\(self\.(\w+)\) == has\(oldSelf\.\1\)$")


# -- field reference -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDoc:
    """One field of a custom resource, as the reference shows it."""

    path: str  # spec.supervisedTuningSpec.hyperParameters.epochCount; list items add `[]`
    type: str
    description: str
    required: bool
    default: str | None
    constraints: tuple[str, ...]
    immutable: bool


def _type_name(node: dict[str, Any]) -> str:
    kind = str(node.get("type", "object"))
    if kind == "array":
        item = _type_name(node.get("items", {}))
        list_type = node.get("x-kubernetes-list-type")
        if list_type == "map":
            keys = ", ".join(node.get("x-kubernetes-list-map-keys", ()))
            return f"array of {item} (one per {keys})"
        if list_type == "set":
            return f"array of {item} (unique values)"
        return f"array of {item}"
    if kind == "object" and "additionalProperties" in node and not node.get("properties"):
        return f"map of string to {_type_name(node['additionalProperties'])}"
    if kind == "string" and node.get("format"):
        return f"string ({node['format']})"
    return kind


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _range(node: dict[str, Any]) -> list[str]:
    low, high = node.get("minimum"), node.get("maximum")
    low_open, high_open = node.get("exclusiveMinimum") is True, node.get("exclusiveMaximum") is True
    if low is not None and high is not None and not low_open and not high_open:
        return [f"{_number(low)} to {_number(high)}"]
    out = []
    if low is not None:
        out.append(f"greater than {_number(low)}" if low_open else f"at least {_number(low)}")
    if high is not None:
        out.append(f"less than {_number(high)}" if high_open else f"at most {_number(high)}")
    return out


def _sized(node: dict[str, Any], low_key: str, high_key: str, unit: str) -> list[str]:
    low, high = node.get(low_key), node.get(high_key)
    if low is not None and high is not None:
        return [f"{low} to {high} {unit}"]
    if high is not None:
        return [f"at most {high} {unit}"]
    if low is not None:
        return [f"at least {low} {unit}"]
    return []


def _value_constraints(node: dict[str, Any]) -> list[str]:
    """Bounds a scalar value carries: enum, length, pattern, range."""
    out: list[str] = []
    if "enum" in node:
        out.append("one of " + ", ".join(f"`{value}`" for value in node["enum"]))
    out += _sized(node, "minLength", "maxLength", "characters")
    if "pattern" in node:
        out.append(f"matches `{node['pattern']}`")
    out += _range(node)
    return out


def _own_rules(node: dict[str, Any]) -> list[str]:
    """Messages of the CEL rules on a node other than the immutability ones (reported separately)."""
    return [
        f"rule: {rule['message']}"
        for rule in node.get("x-kubernetes-validations", ())
        if rule["rule"] != _IMMUTABLE_RULE and not _PRESENCE_RULE.match(rule["rule"])
    ]


def _constraints(node: dict[str, Any]) -> tuple[str, ...]:
    out = _value_constraints(node)
    out += _sized(node, "minItems", "maxItems", "items")
    out += _sized(node, "minProperties", "maxProperties", "entries")
    if node.get("type") == "array" and node.get("items", {}).get("type") != "object":
        out += [f"each item: {text}" for text in _value_constraints(node["items"])]
    values = node.get("additionalProperties")
    if isinstance(values, dict) and values.get("type") != "object":
        out += [f"each value: {text}" for text in _value_constraints(values)]
    out += _own_rules(node)
    return tuple(out)


def _frozen_by_presence(parent: dict[str, Any]) -> set[str]:
    names = set()
    for rule in parent.get("x-kubernetes-validations", ()):
        match = _PRESENCE_RULE.match(rule["rule"])
        if match:
            names.add(match.group(1))
    return names


def is_immutable(node: dict[str, Any]) -> bool:
    """True when the CRD rejects every change to the value: a `self == oldSelf` rule on it, or (for an
    object, whose rules sit on the leaves so the error names the field) on every field below it."""
    if any(rule["rule"] == _IMMUTABLE_RULE for rule in node.get("x-kubernetes-validations", ())):
        return True
    properties = node.get("properties") or {}
    return bool(properties) and all(is_immutable(child) for child in properties.values())


def _default(node: dict[str, Any]) -> str | None:
    if "default" not in node:
        return None
    value = node["default"]
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{value}`" if isinstance(value, str) else _number(value)


def walk_fields(node: dict[str, Any], path: str, frozen: bool = False) -> Iterator[FieldDoc]:
    """Every field below `node` (whose own path is `path`), depth first in the schema's order.

    `frozen` says `node` itself is immutable, which makes everything inside it immutable too (a list of
    examples is frozen as a whole, so its items' fields carry no rules of their own)."""
    properties: dict[str, Any] = node.get("properties") or {}
    required = set(node.get("required", ()))
    for name, child in properties.items():
        child_path = f"{path}.{name}"
        immutable = frozen or is_immutable(child)
        yield FieldDoc(
            path=child_path,
            type=_type_name(child),
            description=" ".join(str(child.get("description", "")).split()),
            required=name in required,
            default=_default(child),
            constraints=_constraints(child),
            immutable=immutable,
        )
        yield from _walk_nested(child, child_path, immutable)
    # A presence rule without a matching field would be a generator bug, not a documentation detail.
    unknown = _frozen_by_presence(node) - set(properties)
    if unknown:
        raise ValueError(f"{path}: presence rules name fields the schema lacks: {sorted(unknown)}")


def _walk_nested(node: dict[str, Any], path: str, frozen: bool) -> Iterator[FieldDoc]:
    if node.get("properties"):
        yield from walk_fields(node, path, frozen)
    elif node.get("type") == "array" and node.get("items", {}).get("properties"):
        yield from walk_fields(node["items"], f"{path}[]", frozen)
    elif isinstance(node.get("additionalProperties"), dict) and node["additionalProperties"].get(
        "properties"
    ):
        yield from walk_fields(node["additionalProperties"], f"{path}.<key>", frozen)


def _anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _noun(kind: str) -> str:
    """TuningJob -> tuning job: how prose names the remote object."""
    return re.sub(r"(?<!^)([A-Z])", r" \1", kind).lower()


def _spec_section(kind: str, spec_fields: list[FieldDoc]) -> list[str]:
    intro = (
        f"Fields marked immutable are inputs of the remote {_noun(kind)}: the API server rejects a "
        f"change to them (`kubectl apply` prints which field and why); create a new {kind} to change one. "
        if any(f.immutable for f in spec_fields)
        else "Every field may be changed at any time; the operator acts on a change without a restart. "
    )
    lines = [
        "## Spec",
        "",
        intro + "A default is filled in by the API server when the field is left out.",
        "",
        "| field | type | required | default | immutable |",
        "|---|---|---|---|---|",
    ]
    for f in spec_fields:
        lines.append(
            f"| [`{f.path}`](#{_anchor(f.path)}) | {_cell(f.type)} | {'yes' if f.required else 'no'} "
            f"| {_cell(f.default) if f.default else ''} | {'yes' if f.immutable else 'no'} |"
        )
    lines.append("")
    for f in spec_fields:
        lines += [f"### `{f.path}`", "", f.description or "(no description)", ""]
        lines.append(f"- **Type:** {f.type}")
        lines.append(f"- **Required:** {'yes' if f.required else 'no'}")
        lines.append(f"- **Default:** {f.default or 'none'}")
        if f.constraints:
            lines.append("- **Constraints:** " + "; ".join(f.constraints))
        lines.append(
            f"- **Immutable:** yes: a change is rejected; create a new {kind} to change it"
            if f.immutable
            else "- **Immutable:** no: may be changed at any time"
        )
        lines.append("")
    return lines


def _status_section(status_fields: list[FieldDoc]) -> list[str]:
    lines = [
        "## Status",
        "",
        "Written by the operator only. The conditions are explained in [conditions](../conditions.md).",
        "",
        "| field | type | description |",
        "|---|---|---|",
    ]
    for f in status_fields:
        lines.append(f"| `{f.path}` | {_cell(f.type)} | {_cell(f.description)} |")
    lines.append("")
    return lines


def reference_page(crd: dict[str, Any]) -> str:
    """The Markdown field reference of one kind, from its CRD."""
    spec = crd["spec"]
    names = spec["names"]
    kind = names["kind"]
    version = spec["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    api_version = f"{spec['group']}/{version['name']}"
    short = ", ".join(f"`{n}`" for n in names.get("shortNames", ()))
    namespaced = spec.get("scope", "Namespaced") == "Namespaced"
    categories = names.get("categories") or ()
    category = (
        f", category `{categories[0]}` (`kubectl get {categories[0]}` lists the vertexops resources of a "
        "namespace)"
        if categories
        else ", in no category (`kubectl get vertexops` leaves it out)"
    )
    lines = [
        f"# {kind} reference",
        "",
        "<!-- Generated by `vertexops docs` from the CRD (controller/api); do not edit by hand. -->",
        "",
        " ".join(schema["description"].split()),
        "",
        f"- **apiVersion:** `{api_version}`",
        f"- **kind:** `{kind}`, {'namespaced' if namespaced else 'cluster-scoped'}; plural "
        f"`{names['plural']}`, short name {short}{category}",
        f"- **Schema in the cluster:** `kubectl explain {names['singular']}.spec --recursive`",
        "",
    ]
    root_rules = [rule["message"] for rule in schema.get("x-kubernetes-validations", ())]
    if root_rules:
        lines += ["Rules across fields:", "", *[f"- {message}" for message in root_rules], ""]
    lines += [
        "## `kubectl get` columns",
        "",
        "| column | from | description |",
        "|---|---|---|",
    ]
    for column in version.get("additionalPrinterColumns", ()):
        wide = " (only with `-o wide`)" if column.get("priority") else ""
        lines.append(
            f"| {column['name']} | `{_cell(column['jsonPath'])}` | "
            f"{_cell(column.get('description', 'Time since the resource was created.'))}{wide} |"
        )
    lines.append("")
    spec_schema = schema["properties"]["spec"]
    spec_rules = _own_rules(spec_schema)
    spec_fields = list(walk_fields(spec_schema, "spec"))
    lines += _spec_section(kind, spec_fields)
    if spec_rules:
        insert_at = lines.index("## Spec") + 2
        lines[insert_at:insert_at] = [
            "Rules on the spec as a whole:",
            "",
            *[f"- {text.removeprefix('rule: ')}" for text in spec_rules],
            "",
        ]
    lines += _status_section(list(walk_fields(schema["properties"]["status"], "status")))
    return "\n".join(lines).rstrip("\n") + "\n"


# -- conditions ----------------------------------------------------------------------------------------------

# What each condition type tells a user; every ConditionType must be here (checked when the page is built).
CONDITION_TYPE_DOCS: dict[str, str] = {
    "Ready": "True only when the tuned model is usable: the job succeeded and the model and its endpoint "
    "are known. A failed or cancelled job is never Ready. `kubectl wait --for=condition=Ready` waits on it.",
    "Reconciling": "True while work is under way: the job is being created, is pending or running, or the "
    "resource is being deleted.",
    "Stalled": "True when nothing more will happen without a change from you: the job failed, Google "
    "rejected the spec, a permission is missing, a referenced Secret or ConfigMap is absent.",
    "Synced": "Whether the operator's last call to Google succeeded. False with reason APIError during an "
    "outage or rate limiting, which the operator retries on its own; it does not mean the job failed.",
    "SpecMatched": "Only on a TuningJob that imports a job with spec.jobName: whether the job has the inputs "
    "the spec states (base model, data, hyperparameters, names). False with reason SpecMismatch names each "
    "difference; the job is still followed and reported as it is.",
}


# How the four conditions combine in the situations a user meets, as the reconciler sets them.
CONDITION_STATES: tuple[tuple[str, str, str, str, str], ...] = (
    ("being created", "False (`Creating`)", "True", "False", "unchanged"),
    ("queued or running", "False", "True", "False", "True"),
    ("succeeded: model and endpoint ready", "True", "False", "False", "True"),
    ("failed, cancelled or expired", "False", "False", "True", "True"),
    ("refused by Google (permission denied, invalid spec)", "False", "False", "True", "False"),
    (
        "refused by the operator before calling Google (missing Secret or ConfigMap, no project)",
        "False",
        "False",
        "True",
        "True",
    ),
    (
        "refused by its TuningTenant before calling Google (`PolicyDenied`, `NoTenant`)",
        "False",
        "False",
        "True",
        "True",
    ),
    (
        "waiting for a place under its TuningTenant's limit (`WaitingForTenantQuota`)",
        "False",
        "True",
        "False",
        "unchanged",
    ),
    ("Google unreachable or rate limiting", "unchanged", "unchanged", "unchanged", "False (`APIError`)"),
    ("being deleted, waiting for the job to stop", "False (`Deleting`)", "True", "False", "True"),
)


def conditions_page() -> str:
    from controller.api.conditions import REASONS, ConditionType, Reason  # noqa: PLC0415

    missing_types = [t.value for t in ConditionType if t.value not in CONDITION_TYPE_DOCS]
    if missing_types:
        raise ValueError(f"CONDITION_TYPE_DOCS lacks condition type(s) {missing_types}")
    missing_reasons = [r.value for r in Reason if r not in REASONS]
    if missing_reasons:
        raise ValueError(f"controller.api.conditions.REASONS lacks reason(s) {missing_reasons}")
    lines = [
        "# Conditions and reasons",
        "",
        "<!-- Generated by `vertexops docs` from controller/api/conditions.py; do not edit by hand. -->",
        "",
        "Every TuningJob and TunedModel carries four conditions in the standard Kubernetes shape "
        "(`type`, `status`, `reason`, `message`, `lastTransitionTime`, `observedGeneration`), so "
        "`kubectl wait`, Argo CD and Flux read them without plug-ins. See them with",
        "",
        "```sh",
        "kubectl describe tuningjob NAME",
        "kubectl get tuningjob NAME -o jsonpath='{range .status.conditions[*]}{.type}={.status} "
        '{.reason}: {.message}{"\\n"}{end}\'',
        "```",
        "",
        "## Condition types",
        "",
        "| type | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{t.value}` | {_cell(CONDITION_TYPE_DOCS[t.value])} |" for t in ConditionType]
    lines += [
        "",
        "How they combine:",
        "",
        "| situation | Ready | Reconciling | Stalled | Synced |",
        "|---|---|---|---|---|",
        *[f"| {' | '.join(row)} |" for row in CONDITION_STATES],
    ]
    lines += [
        "",
        "A condition whose `observedGeneration` is lower than `metadata.generation` describes an older "
        "spec: the operator has not yet acted on your latest change.",
        "",
        "## Reasons",
        "",
        "The `reason` of a condition is one of these words; warning events carry the same reasons. The "
        "message beside it names the field, permission or object concerned.",
        "",
        "| reason | what it means | what to do |",
        "|---|---|---|",
    ]
    for reason in Reason:
        doc = REASONS[reason]
        lines.append(f"| `{reason.value}` | {_cell(doc.meaning)} | {_cell(doc.action)} |")
    lines += [
        "",
        "For symptoms and fixes in more depth, see [troubleshooting](troubleshooting.md).",
    ]
    return "\n".join(lines) + "\n"


# -- configuration -------------------------------------------------------------------------------------------


def chart_values_by_env(deployment_template: str) -> dict[str, str]:
    """`VERTEXOPS_*` variable -> the chart value that sets it, read from the chart's Deployment template.

    The template sets each variable either from `.Values.x` on the value line or inside a preceding
    `{{- with .Values.x }}`; `.Release.Namespace` and literal values are reported as such.
    """
    lines = deployment_template.splitlines()
    found: dict[str, str] = {}
    for index, line in enumerate(lines):
        match = re.search(r"name:\s*(VERTEXOPS_\w+)", line)
        if not match:
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        preceding = lines[index - 1] if index else ""
        value = re.search(r"\.Values\.([A-Za-z0-9_.]+)", following) or re.search(
            r"with \.Values\.([A-Za-z0-9_.]+)", preceding
        )
        literal = re.search(r"value:\s*\"?([^\"{}]+)\"?\s*$", following)
        if value:
            found[match.group(1)] = f"`{value.group(1)}`"
        elif ".Release.Namespace" in following:
            found[match.group(1)] = "the release namespace"
        elif literal:
            found[match.group(1)] = f"fixed: `{literal.group(1).strip()}`"
    return found


def _option_default(value: Any) -> str:
    if value is None or value == ():
        return ""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{_number(value)}`"


def configuration_page(deployment_template: str | None) -> str:
    from controller.config import OPTIONS  # noqa: PLC0415

    chart = chart_values_by_env(deployment_template) if deployment_template else {}
    lines = [
        "# Operator configuration",
        "",
        "<!-- Generated by `vertexops docs` from controller/config.py; do not edit by hand. -->",
        "",
        "`vertexops run` takes every setting as a flag or as an environment variable. A flag wins over the "
        "variable, which wins over the default, so the Helm chart sets the variables and you can still "
        "override one value by hand. Boolean variables accept `true`/`false`, `1`/`0`, `yes`/`no`, "
        "`on`/`off`.",
        "",
    ]
    if chart:
        lines += [
            "The last column names the value of the Helm chart (`charts/vertexops/values.yaml`) that sets "
            "the variable; settings without one keep their default under Helm.",
            "",
            "| flag | environment variable | default | meaning | Helm value |",
            "|---|---|---|---|---|",
        ]
    else:
        lines += ["| flag | environment variable | default | meaning |", "|---|---|---|---|"]
    for option in OPTIONS:
        row = (
            f"| `{option.flag}` | `{option.env}` | {_option_default(option.default)} | {_cell(option.help)} |"
        )
        if chart:
            row += f" {chart.get(option.env, '')} |"
        lines.append(row)
    lines += [
        "",
        "Google credentials come from Application Default Credentials, not from a flag: see "
        "[credentials](credentials.md).",
    ]
    return "\n".join(lines) + "\n"


# -- files ---------------------------------------------------------------------------------------------------


def rendered_pages() -> dict[str, str]:
    """Path relative to the docs folder -> content of every generated page."""
    from controller.crdgen import crd_manifests  # noqa: PLC0415

    pages = {
        f"reference/{crd['spec']['names']['singular']}.md": reference_page(crd) for crd in crd_manifests()
    }
    pages["conditions.md"] = conditions_page()
    template = CHART_DEPLOYMENT.read_text(encoding="utf-8") if CHART_DEPLOYMENT.exists() else None
    pages["configuration.md"] = configuration_page(template)
    return pages


def stale_pages(output_dir: Path) -> list[tuple[Path, str]]:
    """(path, unified diff) of every generated page that is missing or differs on disk."""
    return stale(rendered_pages(), output_dir, context=1)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help="docs folder to write into (default: the repository's docs/)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each page in --output-dir that differs from the generated one",
    )


def run(args: argparse.Namespace) -> int:
    output_dir: Path = args.output_dir
    if args.check:
        problems = stale_pages(output_dir)
        for path, diff in problems:
            sys.stderr.write(diff if diff.endswith("\n") else diff + "\n")
            sys.stderr.write(f"stale: {path}\n")
        if problems:
            sys.stderr.write(
                f"{len(problems)} generated page(s) are stale: run `vertexops docs` and commit them.\n"
            )
            return 1
        print(f"Generated pages in {output_dir} are up to date.")
        return 0
    for name, content in rendered_pages().items():
        path = output_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(f"wrote {path}")
    return 0
