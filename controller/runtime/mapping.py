"""Ready-made `map_fn`s for `Manager.watch`: which primaries to reconcile when a secondary object changes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

from controller.runtime.kubeapi import JsonObject
from controller.runtime.store import Store

MapFn = Callable[[JsonObject], Iterable[str]]
_index_names = itertools.count(1)


def map_to_owner(group: str, kind: str, controller_only: bool = False) -> MapFn:
    """Map an object to the `namespace/name` keys of its owners of `kind` in API `group`.

    Owner references carry `apiVersion` (group/version); any version of the group matches, so the mapping
    survives an API version bump of the owner. With `controller_only`, only the owner marked
    `controller: true` counts.
    """

    def owners(obj: JsonObject) -> list[str]:
        metadata = obj.get("metadata") or {}
        namespace = metadata.get("namespace")
        keys = []
        for ref in metadata.get("ownerReferences") or []:
            ref_group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            if ref.get("kind") != kind or ref_group != group or not ref.get("name"):
                continue
            if controller_only and not ref.get("controller"):
                continue
            keys.append(f"{namespace}/{ref['name']}" if namespace else str(ref["name"]))
        return keys

    return owners


def map_by_reference(primaries: Store, references: Callable[[JsonObject], Iterable[str]]) -> MapFn:
    """Map an object to every cached primary in its namespace whose `references(primary)` names it.

    For objects that point at others by name (a TuningJob naming a Secret): `references` returns the names
    a primary refers to. The answer comes from an index of the primaries' store (who refers to what), kept
    up to date as each primary changes, so an event costs one look-up, with 10,000 primaries as with ten.
    """
    name = f"references-{next(_index_names)}"

    def targets(primary: JsonObject) -> list[str]:
        namespace = (primary.get("metadata") or {}).get("namespace") or ""
        return [f"{namespace}/{target}" for target in references(primary)]

    primaries.add_index(name, targets)

    def referrers(obj: JsonObject) -> list[str]:
        metadata = obj.get("metadata") or {}
        return primaries.by_index(name, f"{metadata.get('namespace') or ''}/{metadata.get('name') or ''}")

    return referrers
