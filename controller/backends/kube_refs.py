"""Reading the Secrets and ConfigMaps a resource refers to, in its own namespace, with `get` only.

A backend gets a small `ObjectReader` rather than the whole `KubeApi`: it can read one named object and
nothing else, which is also all the operator's RBAC allows on Secrets. A referenced object that is missing
or that the operator may not read is the user's to fix, so it becomes a `SpecError` naming the object and
the spec field; the resource is retried soon so it proceeds on its own once the object appears.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from controller.api.conditions import Reason
from controller.external import JsonObject, SpecError
from controller.runtime.kubeapi import CONFIGMAPS, SECRETS, ApiError, KubeApi, ResourceRef

#: Reads one object: (resource, namespace, name) -> the object, or None when it does not exist. Raises
#: `ApiError` for any other failure (403 included).
ObjectReader = Callable[[ResourceRef, str, str], JsonObject | None]

#: How soon a resource waiting for a Secret or ConfigMap looks again.
MISSING_REFERENCE_RETRY_SECONDS = 10.0


def api_reader(api: KubeApi) -> ObjectReader:
    """An `ObjectReader` doing one GET through `api`."""

    def read(resource: ResourceRef, namespace: str, name: str) -> JsonObject | None:
        try:
            return api.get(resource.object_path(name, namespace))
        except ApiError as err:
            if err.not_found:
                return None
            raise

    return read


def read_secret_key(reader: ObjectReader, namespace: str, name: str, key: str, field: str) -> str:
    """The text under `key` of Secret `name` (surrounding whitespace removed: `echo` adds a newline).

    The value never appears in a message: errors name the Secret and key only.
    """
    secret = _read(
        reader, SECRETS, namespace, name, field=field, reason=Reason.SECRET_NOT_FOUND, kind="Secret"
    )
    encoded = (secret.get("data") or {}).get(key)
    if encoded is None:
        raise SpecError(
            Reason.SECRET_NOT_FOUND,
            f"{field}: Secret {name} in namespace {namespace} has no key {key!r}; add it or fix the key",
            retry_after=MISSING_REFERENCE_RETRY_SECONDS,
        )
    try:
        value = base64.b64decode(encoded, validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError) as err:
        raise SpecError(
            Reason.INVALID_SPEC,
            f"{field}: key {key!r} of Secret {name} is not UTF-8 text",
            retry_after=MISSING_REFERENCE_RETRY_SECONDS,
        ) from err
    if not value:
        raise SpecError(
            Reason.INVALID_SPEC,
            f"{field}: key {key!r} of Secret {name} is empty",
            retry_after=MISSING_REFERENCE_RETRY_SECONDS,
        )
    return value


def read_config_map_key(reader: ObjectReader, namespace: str, name: str, key: str, field: str) -> str:
    """The text under `key` of ConfigMap `name`, from `data` or (base64) `binaryData`."""
    config_map = _read(
        reader, CONFIGMAPS, namespace, name, field=field, reason=Reason.CONFIG_MAP_NOT_FOUND, kind="ConfigMap"
    )
    data = config_map.get("data") or {}
    if key in data:
        return str(data[key])
    binary = (config_map.get("binaryData") or {}).get(key)
    if binary is not None:
        try:
            return base64.b64decode(binary, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as err:
            raise SpecError(
                Reason.INVALID_SPEC,
                f"{field}: binaryData key {key!r} of ConfigMap {name} is not UTF-8 text",
                retry_after=MISSING_REFERENCE_RETRY_SECONDS,
            ) from err
    raise SpecError(
        Reason.CONFIG_MAP_NOT_FOUND,
        f"{field}: ConfigMap {name} in namespace {namespace} has no key {key!r}; add it or fix the key",
        retry_after=MISSING_REFERENCE_RETRY_SECONDS,
    )


def _read(
    reader: ObjectReader,
    resource: ResourceRef,
    namespace: str,
    name: str,
    *,
    field: str,
    reason: Reason,
    kind: str,
) -> JsonObject:
    try:
        found = reader(resource, namespace, name)
    except ApiError as err:
        if err.status not in (401, 403):
            raise
        raise SpecError(
            reason,
            f"{field}: {kind} {name} in namespace {namespace} cannot be read by the operator "
            f"(HTTP {err.status} {err.reason}); check the operator's RBAC",
            retry_after=MISSING_REFERENCE_RETRY_SECONDS,
        ) from err
    if found is None:
        raise SpecError(
            reason,
            f"{field}: {kind} {name} not found in namespace {namespace}; create it or fix the name",
            retry_after=MISSING_REFERENCE_RETRY_SECONDS,
        )
    return found
