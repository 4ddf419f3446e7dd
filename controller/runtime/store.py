"""The informer's local cache: the latest known version of every watched object, keyed `namespace/name`.

Reconcilers read from here instead of the API server, so a reconcile costs no round trip and thousands of
objects cost no list calls. Objects are stored as compact JSON and parsed on each read (see
`Store`), so every reader gets an object of its own.
"""

from __future__ import annotations

import builtins
import json
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import orjson

JsonObject = dict[str, Any]
S = TypeVar("S")
T = TypeVar("T")
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


class _Parsed(Sequence[T]):
    """Stored items parsed one at a time as they are read: a relist of 10,000 objects hands them to the
    event handlers without holding 10,000 parsed objects at once."""

    def __init__(self, items: builtins.list[S], parse: Callable[[S], T]) -> None:
        self._items = items
        self._parse = parse

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> builtins.list[T]: ...
    def __getitem__(self, index: int | slice) -> T | builtins.list[T]:
        if isinstance(index, slice):
            return [self._parse(item) for item in self._items[index]]
        return self._parse(self._items[index])


def _decode_pair(pair: tuple[bytes, bytes]) -> tuple[JsonObject, JsonObject]:
    return decode(pair[0]), decode(pair[1])


@dataclass
class ReplaceResult:
    """What a relist changed: objects that appeared, changed (old, new) or vanished since the last view."""

    added: Sequence[JsonObject] = field(default_factory=list)
    updated: Sequence[tuple[JsonObject, JsonObject]] = field(default_factory=list)
    deleted: Sequence[JsonObject] = field(default_factory=list)


Indexer = Callable[[JsonObject], Iterable[str]]


@dataclass(frozen=True)
class Prepared:
    key: str
    entry: _Entry


@dataclass(frozen=True)
class _Entry:
    """One cached object: its compact JSON, and what comparing versions and scoping need without parsing."""

    data: bytes
    namespace: str
    resource_version: str
    index_values: tuple[tuple[str, ...], ...]  # per indexer, in the order they were added


def encode(obj: JsonObject) -> bytes:
    """Compact JSON, deflated, as the store keeps objects (see `Store`)."""
    try:
        data = orjson.dumps(obj)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, which orjson refuses and JSON allows
        data = json.dumps(obj, separators=(",", ":")).encode()
    return zlib.compress(data, 1)


class Store:
    """A thread-safe map `key -> object`, updated by the informer and read by reconcilers.

    Each object is kept as compact JSON, deflated (zlib level 1), and parsed on every read. A TuningJob with
    a full status takes about 15 KB as Python dicts and strings, 3.9 KB as JSON and 1.5 KB deflated (its
    conditions repeat their messages, its names repeat the project and location), and an operator
    following 10,000 jobs reads each of them about once per poll, so inflating and parsing on read (well
    under a millisecond) is far cheaper than holding the parsed form. Every reader gets an object of its
    own, free to change.

    Reading everything (`list`) parses everything: a reader that needs a subset asks an index instead:
    `list_namespace`, or an index it added with `add_index` (the keys of the objects an indexer maps to a
    value, kept up to date on every change, as client-go's indexers are).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, _Entry] = {}
        self._revision = 0  # bumped by every change: lets a reader keep what it derived until the next one
        self._indexers: dict[str, Indexer] = {}
        self._indexes: dict[str, dict[str, set[str]]] = {}
        self._namespaces: dict[str, set[str]] = {}

    @property
    def revision(self) -> int:
        """Changes whenever the contents do: what a reader derived at one revision holds until the next."""
        with self._lock:
            return self._revision

    def get(self, key: str) -> JsonObject | None:
        with self._lock:
            entry = self._items.get(key)
        return None if entry is None else decode(entry.data)

    def list(self) -> builtins.list[JsonObject]:
        with self._lock:
            entries = list(self._items.values())
        return [decode(entry.data) for entry in entries]

    def list_namespace(self, namespace: str) -> builtins.list[JsonObject]:
        """The objects of one namespace, parsing only those."""
        with self._lock:
            entries = [self._items[key] for key in self._namespaces.get(namespace, ())]
        return [decode(entry.data) for entry in entries]

    def keys(self) -> builtins.list[str]:
        with self._lock:
            return list(self._items)

    def resource_version(self, key: str) -> str | None:
        """The stored version of `key` (without parsing the object); None when it is not stored."""
        with self._lock:
            entry = self._items.get(key)
        return None if entry is None else entry.resource_version

    def namespaces(self) -> builtins.list[str]:
        """The namespaces that hold at least one object ("" for cluster-scoped objects)."""
        with self._lock:
            return sorted(self._namespaces)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def add_index(self, name: str, indexer: Indexer) -> None:
        """Keep `by_index(name, value)`: the keys of the objects for which `indexer(obj)` yields `value`."""
        with self._lock:
            if name in self._indexers:
                raise ValueError(f"store: an index named {name!r} exists already")
            self._indexers[name] = indexer
            self._indexes[name] = {}
            for key, old in list(self._items.items()):
                self._unindex(key, old)
                self._items[key] = entry = self._entry(decode(old.data), old.data)
                self._index(key, entry)

    def has_index(self, name: str) -> bool:
        with self._lock:
            return name in self._indexers

    def by_index(self, name: str, value: str) -> builtins.list[str]:
        with self._lock:
            return sorted(self._indexes[name].get(value, ()))

    def upsert(self, obj: JsonObject) -> JsonObject | None:
        """Store `obj`; return the version it replaced, if any."""
        key = object_key(obj)
        entry = self._entry(obj)
        with self._lock:
            old = self._put(key, entry)
            self._revision += 1
        return None if old is None else decode(old.data)

    def delete(self, key: str) -> JsonObject | None:
        """Remove `key`; return the last stored version, if any."""
        with self._lock:
            self._revision += 1
            old = self._pop(key)
        return None if old is None else decode(old.data)

    def prepare(self, obj: JsonObject) -> Prepared:
        """`obj` as the store keeps it, for `replace`: a lister can prepare each page's objects as it reads
        them and let the parsed ones go."""
        return Prepared(object_key(obj), self._entry(obj))

    def replace(
        self, objects: Iterable[JsonObject | Prepared], namespace: str | None = None
    ) -> ReplaceResult:
        """Make the store (or one namespace of it) hold exactly `objects`, as after a fresh list.

        Comparing with what was there is how a relist finds the deletions that happened while the watch was
        down: without it, an object deleted during a disconnect would stay in the cache forever.
        """
        incoming: dict[str, _Entry] = {}
        for item in objects:
            prepared = item if isinstance(item, Prepared) else self.prepare(item)
            incoming[prepared.key] = prepared.entry
        added: builtins.list[bytes] = []
        updated: builtins.list[tuple[bytes, bytes]] = []
        with self._lock:
            self._revision += 1
            in_scope = [
                key for key, entry in self._items.items() if namespace is None or entry.namespace == namespace
            ]
            gone = [self._pop(key) for key in in_scope if key not in incoming]
            for key, entry in incoming.items():
                old = self._put(key, entry)
                if old is None:
                    added.append(entry.data)
                elif old.resource_version != entry.resource_version:
                    updated.append((old.data, entry.data))
        deleted = [entry.data for entry in gone if entry is not None]
        return ReplaceResult(_Parsed(added, decode), _Parsed(updated, _decode_pair), _Parsed(deleted, decode))

    def iter(self) -> Iterator[JsonObject]:
        """Every object, parsed one at a time (a full scan without holding every parsed object at once)."""
        with self._lock:
            entries = list(self._items.values())
        for entry in entries:
            yield decode(entry.data)

    # -- under the lock ------------------------------------------------------------------------------------

    def _entry(self, obj: JsonObject, data: bytes | None = None) -> _Entry:
        metadata = obj.get("metadata") or {}
        values = tuple(tuple(dict.fromkeys(indexer(obj))) for indexer in self._indexers.values())
        return _Entry(
            data if data is not None else encode(obj),
            str(metadata.get("namespace") or ""),
            str(metadata.get("resourceVersion") or ""),
            values,
        )

    def _put(self, key: str, entry: _Entry) -> _Entry | None:
        if len(entry.index_values) != len(self._indexers):  # made while an index was being added
            entry = self._entry(decode(entry.data), entry.data)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = entry
        self._index(key, entry)
        return old

    def _pop(self, key: str) -> _Entry | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def _index(self, key: str, entry: _Entry) -> None:
        self._namespaces.setdefault(entry.namespace, set()).add(key)
        for name, values in zip(self._indexes, entry.index_values, strict=False):
            index = self._indexes[name]
            for value in values:
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: str, entry: _Entry) -> None:
        keys = self._namespaces.get(entry.namespace)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._namespaces[entry.namespace]
        for name, values in zip(self._indexes, entry.index_values, strict=False):
            index = self._indexes[name]
            for value in values:
                members = index.get(value)
                if members is not None:
                    members.discard(key)
                    if not members:
                        del index[value]


def decode(data: bytes) -> JsonObject:
    """The object `encode` made, as a new dict."""
    raw = zlib.decompress(data)
    try:
        obj: JsonObject = orjson.loads(raw)
    except orjson.JSONDecodeError:  # see encode
        obj = json.loads(raw)
    return obj
