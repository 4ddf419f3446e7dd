"""Which TuningTenant covers a namespace: by name, or by a label selector with Kubernetes' semantics.

The admission policy evaluates the same selector in CEL (`controller.tenancy.admission`); both follow
`metav1.LabelSelector`: every matchLabels entry and every matchExpressions requirement must hold, and an
empty selector matches every namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

JsonObject = dict[str, Any]


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy a `metav1.LabelSelector` given as JSON."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or ():
        key, operator = requirement["key"], requirement["operator"]
        values = requirement.get("values") or ()
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def covers(tenant: JsonObject, namespace: str, labels: Mapping[str, str]) -> bool:
    """Whether the tenant's spec.namespaces covers the namespace (named, or selected by its labels)."""
    selection = (tenant.get("spec") or {}).get("namespaces") or {}
    if namespace in (selection.get("names") or ()):
        return True
    selector = selection.get("selector")
    return selector is not None and selector_matches(selector, labels)


def tenants_covering(
    tenants: Iterable[JsonObject], namespace: str, labels: Mapping[str, str]
) -> list[JsonObject]:
    """Every tenant covering the namespace, by name so the choice never depends on cache order."""
    found = [t for t in tenants if covers(t, namespace, labels)]
    return sorted(found, key=lambda t: str(t["metadata"]["name"]))
