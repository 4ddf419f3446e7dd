"""What every vertexops custom resource has besides its spec and status.

`ResourceInfo` holds the facts about a kind that are not in its schema (names, printer columns, rules that
span metadata and spec); `controller.crdgen` builds the CustomResourceDefinition from it and the models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from controller.api.base import Timestamp

GROUP = "tuning.vertexops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "vertexops"


class ObjectMeta(BaseModel):
    """The metadata fields the operator reads; every other field is kept as it came.

    Extra fields are allowed because the API server owns metadata (managedFields, ownerReferences, ...) and
    an object read, changed and written back must not lose any of it.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Timestamp | None = None
    deletion_timestamp: Timestamp | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    finalizers: list[str] | None = None


@dataclass(frozen=True)
class PrinterColumn:
    """A column of `kubectl get`; priority 1 shows only with `-o wide`."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def to_crd(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


@dataclass(frozen=True)
class ResourceInfo:
    """The parts of a CustomResourceDefinition that are about the kind rather than its fields."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    description: str
    printer_columns: tuple[PrinterColumn, ...]
    # CEL rules on the whole object, for constraints that join metadata and spec.
    root_validations: tuple[dict[str, str], ...] = field(default=())
    # Whether objects live in a namespace; a cluster-scoped kind (TuningTenant) is for cluster admins.
    namespaced: bool = True
    # `kubectl get <category>` lists every kind in it; a cluster admin's kind stays out of the tenants' one.
    categories: tuple[str, ...] = (CATEGORY,)
    # CEL rules on the spec as a whole (the messages name the fields they concern).
    spec_validations: tuple[dict[str, str], ...] = field(default=())

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def ready_column() -> PrinterColumn:
    return PrinterColumn(
        name="Ready",
        json_path='.status.conditions[?(@.type=="Ready")].status',
        description="Whether the tuned model is usable.",
    )


def age_column() -> PrinterColumn:
    return PrinterColumn(name="Age", json_path=".metadata.creationTimestamp", type="date")
