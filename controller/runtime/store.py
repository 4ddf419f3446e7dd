"""The informer's local cache: the latest known version of every watched object, keyed `namespace/name`.

Reconcilers read from here instead of the API server, so a reconcile costs no round trip and thousands of
objects cost no list calls. Objects are stored as received and replaced (never changed in place) when a
newer version arrives; readers get the stored dict itself and must treat it as read-only (`copy.deepcopy`
it before changing anything), which is what keeps `get` and `list` cheap.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]
Transform = Callable[[JsonObject], JsonObject]

LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def object_key(obj: JsonObject) -> str:
    """`namespace/name` for namespaced objects, `name` for cluster-scoped ones (client-go's convention)."""
    metadata = obj.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        raise ValueError("object key: metadata.name is missing")
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def split_key(key: str) -> tuple[str | None, str]:
    """The inverse of `object_key`: (namespace or None, name)."""
    namespace, sep, name = key.partition("/")
    return (namespace, name) if sep else (None, namespace)


def resource_version(obj: JsonObject) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def strip_for_cache(obj: JsonObject) -> JsonObject:
    """Drop what the operator never reads but which can double an object's size.

    `managedFields` (server-side apply bookkeeping) and kubectl's last-applied annotation (a full copy of the
    object as JSON) together are often larger than the rest of the object.
    """
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("managedFields", None)
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED_ANNOTATION in annotations:
            del annotations[LAST_APPLIED_ANNOTATION]
            if not annotations:
                del metadata["annotations"]
    return obj


@dataclass
class ReplaceResult:
    """What a relist changed: objects that appeared, changed (old, new) or vanished since the last view."""

    added: list[JsonObject] = field(default_factory=list)
    updated: list[tuple[JsonObject, JsonObject]] = field(default_factory=list)
    deleted: list[JsonObject] = field(default_factory=list)


class Store:
    """A thread-safe map `key -> object`, updated by the informer and read by reconcilers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, JsonObject] = {}
        self._revision = 0  # bumped by every change: lets a reader keep what it derived until the next one

    @property
    def revision(self) -> int:
        """Changes whenever the contents do: what a reader derived at one revision holds until the next."""
        with self._lock:
            return self._revision

    def get(self, key: str) -> JsonObject | None:
        with self._lock:
            return self._items.get(key)

    def list(self) -> builtins.list[JsonObject]:
        with self._lock:
            return list(self._items.values())

    def keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def upsert(self, obj: JsonObject) -> JsonObject | None:
        """Store `obj`; return the version it replaced, if any."""
        key = object_key(obj)
        with self._lock:
            old = self._items.get(key)
            self._items[key] = obj
            self._revision += 1
            return old

    def delete(self, key: str) -> JsonObject | None:
        """Remove `key`; return the last stored version, if any."""
        with self._lock:
            self._revision += 1
            return self._items.pop(key, None)

    def replace(self, objects: Iterable[JsonObject], namespace: str | None = None) -> ReplaceResult:
        """Make the store (or one namespace of it) hold exactly `objects`, as after a fresh list.

        Comparing with what was there is how a relist finds the deletions that happened while the watch was
        down: without it, an object deleted during a disconnect would stay in the cache forever.
        """
        result = ReplaceResult()
        incoming = {object_key(obj): obj for obj in objects}
        with self._lock:
            self._revision += 1
            in_scope = [
                key
                for key, obj in self._items.items()
                if namespace is None or (obj.get("metadata") or {}).get("namespace") == namespace
            ]
            for key in in_scope:
                if key not in incoming:
                    result.deleted.append(self._items.pop(key))
            for key, obj in incoming.items():
                old = self._items.get(key)
                self._items[key] = obj
                if old is None:
                    result.added.append(obj)
                elif resource_version(old) != resource_version(obj):
                    result.updated.append((old, obj))
        return result
