"""Ready-made `map_fn`s for `Manager.watch`: which primaries to reconcile when a secondary object changes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from controller.runtime.kubeapi import JsonObject
from controller.runtime.store import Store

MapFn = Callable[[JsonObject], Iterable[str]]


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
    a primary refers to. The answer comes from an index of who refers to what, built from the primaries'
    cache and kept until the cache changes. A relist hands over every object at once with no change of the
    cache in between, so a start with 10,000 objects builds the index once instead of scanning the cache
    for each of them (10,000 x 10,000); between changes, an event costs one look-up.
    """
    lock = threading.Lock()
    built: list[tuple[int, dict[tuple[str, str], list[str]]]] = []

    def index() -> dict[tuple[str, str], list[str]]:
        with lock:
            revision = primaries.revision
            if built and built[0][0] == revision:
                return built[0][1]
            by_target: dict[tuple[str, str], list[str]] = {}
            for primary in primaries.list():
                primary_meta = primary.get("metadata") or {}
                namespace = primary_meta.get("namespace") or ""
                for target in set(references(primary)):
                    by_target.setdefault((namespace, target), []).append(
                        f"{namespace}/{primary_meta.get('name')}"
                    )
            built[:] = [(revision, by_target)]
            return by_target

    def referrers(obj: JsonObject) -> list[str]:
        metadata = obj.get("metadata") or {}
        namespace, name = metadata.get("namespace") or "", metadata.get("name") or ""
        return list(index().get((namespace, name), ()))

    return referrers
