"""Building blocks shared by every model in `controller.api`.

The models here are the one source of truth for the custom resources: `controller.crdgen` turns their JSON
schema into the CRDs, and the operator parses what the API server returns with them. So a rule lives next to
the field it constrains, written once, and is enforced both by pydantic (when a manifest is built or read in
Python) and by the API server (when a user applies it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, model_validator
from pydantic.alias_generators import to_camel

# Key under which a field's schema carries the "cannot change after creation" marker. `controller.api.openapi`
# replaces it with CEL transition rules; it never reaches a CRD.
IMMUTABLE_MARKER = "x-vertexops-immutable"

# Pass as `json_schema_extra` to a field the remote API cannot change once the job or model exists.
IMMUTABLE: dict[str, Any] = {IMMUTABLE_MARKER: True}


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC, so a timestamp always serializes with an explicit `Z`."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 in UTC as Kubernetes and Google write it: `Z`, and fractional seconds only when present."""
    value = _as_utc(value)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


# A point in time. Google sends up to nine fractional digits; Python keeps six, which is finer than any
# decision the operator takes on them.
Timestamp = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
]


@dataclass(frozen=True)
class OneOf:
    """Fields of one model of which at most one (or, when `required`, exactly one) may be set.

    Declared on a model as `one_of = (OneOf(...),)`; checked by the model's validator and emitted as a CEL
    rule in the CRD, so both sides agree by construction.
    """

    fields: tuple[str, ...]  # JSON (camelCase) names
    required: bool = False

    def message(self) -> str:
        names = " or ".join(self.fields)
        return (
            f"exactly one of {names} must be set" if self.required else f"at most one of {names} may be set"
        )

    def cel_rule(self) -> dict[str, str]:
        present = [f"has(self.{name})" for name in self.fields]
        if len(present) == 2:
            a, b = present
            rule = f"{a} != {b}" if self.required else f"!({a} && {b})"
        else:
            count = f"[{', '.join(present)}].filter(x, x).size()"
            rule = f"{count} == 1" if self.required else f"{count} <= 1"
        return {"rule": rule, "message": self.message()}


def _add_one_of_rules(schema: dict[str, Any], model: type[BaseModel]) -> None:
    rules = [group.cel_rule() for group in getattr(model, "one_of", ())]
    rules += [dict(rule) for rule in getattr(model, "cel_rules", ())]
    if rules:
        schema.setdefault("x-kubernetes-validations", []).extend(rules)


class ApiModel(BaseModel):
    """A part of a resource as users write it: camelCase on the wire, unknown fields rejected.

    Unknown fields are errors rather than silently dropped, as the API server does with strict field
    validation, so a typo in a manifest fails the same way in Python and in `kubectl apply`.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
        json_schema_extra=_add_one_of_rules,
    )

    one_of: ClassVar[tuple[OneOf, ...]] = ()
    # Further CEL rules on the model as a whole (`rule`, `message`, optional `fieldPath`); a model that
    # declares one also checks it in a validator of its own, so Python and the API server agree.
    cel_rules: ClassVar[tuple[dict[str, str], ...]] = ()

    @model_validator(mode="after")
    def _check_one_of(self) -> Self:
        for group in self.one_of:
            set_fields = [name for name in group.fields if self._json_value(name) is not None]
            if len(set_fields) > 1 or (group.required and not set_fields):
                raise ValueError(group.message())
        return self

    def _json_value(self, json_name: str) -> Any:
        for attribute, info in type(self).model_fields.items():
            if (info.alias or attribute) == json_name:
                return getattr(self, attribute)
        raise KeyError(f"{type(self).__name__} has no field {json_name!r} named in one_of")

    def to_k8s(self) -> dict[str, Any]:
        """The JSON object the API server stores: camelCase names, absent instead of null."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(ApiModel):
    """A part of a status, written by the operator.

    Unknown fields are ignored rather than rejected: a newer operator may already write fields this code
    does not know, and reading them must not fail.
    """

    model_config = ConfigDict(extra="ignore")
