"""An informer: list, then watch, one resource, keeping a local cache and telling handlers what changed.

For each watched namespace (or once for all namespaces) a reflector thread runs client-go's loop:

1. List the collection page by page (`limit` + `continue`) and replace the cache's view of it. Objects that
   were cached but are not in the list were deleted while we were not watching: handlers get a DELETED for
   each, so no deletion is ever missed.
2. Watch from the list's resourceVersion with bookmarks on. Every event and bookmark moves the
   resourceVersion forward, so a watch that ends (server timeout, cut connection) resumes exactly where it
   stopped and no event is lost or repeated.
3. A 410 Gone (history compacted past our resourceVersion), whether refused at watch start or sent as an
   ERROR event in the stream, sends the reflector back to 1.
4. Connection and API errors are retried with capped exponential backoff and jitter, from the same
   resourceVersion.

Each watch asks the server to end it after a jittered `timeoutSeconds`, and the client's read timeout is
longer than that: a connection that silently died is noticed at the latest when the read times out.

Handlers run on the reflector thread after the cache is updated, so a handler that looks the key up in the
cache sees the new state. They must be quick (the manager's only enqueue a key) and thread-safe when
several namespaces are watched.
"""

from __future__ import annotations

import builtins
import logging
import random
import threading
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Protocol

from controller.runtime.kubeapi import (
    CONNECTION_ERRORS,
    ApiError,
    JsonObject,
    KubeApi,
    ResourceRef,
    WatchStream,
)
from controller.runtime.store import Prepared, Store, Transform, object_key, resource_version, strip_for_cache

log = logging.getLogger(__name__)

# Connection failures, and a stream cut mid-line (which shows up as undecodable JSON).
_RETRYABLE: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, ValueError)


class EventType(StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    SYNC = "SYNC"  # periodic resync: nothing changed, every cached object is offered again


# handler(event_type, obj, old): `old` is the previous version for MODIFIED, else None.
Handler = Callable[[EventType, JsonObject, JsonObject | None], None]


class InformerObserver(Protocol):
    """Hooks for metrics (implemented by `controller.runtime.metrics.Metrics`)."""

    def relisted(self, resource: str) -> None: ...

    def watch_restarted(self, resource: str, reason: str) -> None: ...

    def informer_event(self, resource: str, event_type: str) -> None: ...


class _NoObserver:
    def relisted(self, resource: str) -> None:
        pass

    def watch_restarted(self, resource: str, reason: str) -> None:
        pass

    def informer_event(self, resource: str, event_type: str) -> None:
        pass


class Informer:
    def __init__(
        self,
        api: KubeApi,
        resource: ResourceRef,
        namespaces: Sequence[str] = (),
        *,
        resync_period_seconds: float | None = None,
        watch_timeout_seconds: int = 300,
        page_size: int = 500,
        label_selector: str | None = None,
        transform: Transform | None = strip_for_cache,
        observer: InformerObserver | None = None,
        backoff_base_seconds: float = 0.5,
        backoff_cap_seconds: float = 30.0,
    ) -> None:
        if namespaces and not resource.namespaced:
            raise ValueError(
                f"informer for {resource}: a cluster-scoped resource cannot be limited to namespaces"
            )
        self.api = api
        self.resource = resource
        self.namespaces: tuple[str, ...] = tuple(dict.fromkeys(namespaces))
        self.resync_period_seconds = resync_period_seconds
        self.watch_timeout_seconds = watch_timeout_seconds
        self.page_size = page_size
        self.label_selector = label_selector
        self.transform = transform
        self.observer: InformerObserver = observer or _NoObserver()
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.store = Store()
        self._handlers: list[Handler] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        scopes: Sequence[str | None] = self.namespaces or (None,)
        self._reflectors = [_Reflector(self, namespace) for namespace in scopes]

    # -- reading the cache ---------------------------------------------------------------------------------

    def get(self, key: str) -> JsonObject | None:
        return self.store.get(key)

    def list(self) -> builtins.list[JsonObject]:
        return self.store.list()

    def has_synced(self) -> bool:
        """True once every namespace has been listed at least once, so the cache is complete."""
        return all(reflector.synced.is_set() for reflector in self._reflectors)

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        return all(reflector.synced.wait(timeout) for reflector in self._reflectors)

    # -- handlers and lifecycle ----------------------------------------------------------------------------

    def add_handler(self, handler: Handler) -> None:
        """Register a handler; add handlers before `start()` so none misses the initial ADDED events."""
        self._handlers.append(handler)

    def start(self) -> None:
        if self._threads:
            raise RuntimeError(f"informer for {self.resource}: already started")
        for reflector in self._reflectors:
            name = f"informer-{self.resource}-{reflector.namespace or 'all'}"
            self._threads.append(threading.Thread(target=reflector.run, name=name, daemon=True))
        if self.resync_period_seconds:
            self._threads.append(
                threading.Thread(target=self._resync_loop, name=f"resync-{self.resource}", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop watching and wait (up to `timeout`) for the threads; the cache keeps its last contents."""
        self._stop.set()
        for reflector in self._reflectors:
            reflector.interrupt()
        for thread in self._threads:
            thread.join(timeout)

    def is_stopped(self) -> bool:
        return self._stop.is_set()

    def _dispatch(self, event_type: EventType, obj: JsonObject, old: JsonObject | None = None) -> None:
        if event_type is not EventType.SYNC:
            self.observer.informer_event(str(self.resource), event_type.value)
        for handler in self._handlers:
            try:
                handler(event_type, obj, old)
            except Exception:
                log.exception(
                    "informer handler failed",
                    extra={"resource": str(self.resource), "event": event_type.value, "key": _safe_key(obj)},
                )

    def _resync_loop(self) -> None:
        assert self.resync_period_seconds
        while not self._stop.wait(self.resync_period_seconds):
            if not self.has_synced():
                continue
            for obj in self.store.iter():
                self._dispatch(EventType.SYNC, obj)


class _Reflector:
    """The list-then-watch loop for one namespace (or all namespaces) of the informer's resource."""

    def __init__(self, informer: Informer, namespace: str | None) -> None:
        self.informer = informer
        self.namespace = namespace
        self.path = informer.resource.collection_path(namespace)
        self.resource_version = ""
        self.synced = threading.Event()
        self.failures = 0  # consecutive failed attempts; reset once a watch is established
        self._stream: WatchStream | None = None
        self._stream_lock = threading.Lock()

    @property
    def _label(self) -> str:
        return str(self.informer.resource)

    def interrupt(self) -> None:
        with self._stream_lock:
            if self._stream is not None:
                self._stream.interrupt()

    def run(self) -> None:
        informer = self.informer
        need_list = True
        while not informer.is_stopped():
            try:
                if need_list:
                    self._list()
                    need_list = False
                reason = self._watch()
            except ApiError as err:
                if err.gone:
                    reason = "gone"
                else:
                    self.failures += 1
                    reason = "error"
                    self._log_failure(err)
            except _RETRYABLE as err:
                if informer.is_stopped():
                    break
                self.failures += 1
                reason = "error"
                self._log_failure(err)
            except Exception:
                # A bug (in a transform, say) must not end the thread and freeze the cache: log it, and
                # relist after the backoff, since the cache may have missed the event that failed.
                log.exception("informer loop failed", extra={"resource": self._label})
                self.failures += 1
                reason = "error"
                need_list = True
            if informer.is_stopped():
                break
            if reason == "gone":
                log.info(
                    "watch history expired (410 Gone); relisting",
                    extra={
                        "resource": self._label,
                        "namespace": self.namespace or "",
                        "rv": self.resource_version,
                    },
                )
                need_list = True
            informer.observer.watch_restarted(self._label, reason)
            if reason == "error" and informer._stop.wait(self._backoff()):
                break

    def _backoff(self) -> float:
        informer = self.informer
        exponent = min(max(self.failures - 1, 0), 20)
        delay = min(informer.backoff_base_seconds * 2**exponent, informer.backoff_cap_seconds)
        return float(delay * random.uniform(0.5, 1.0))

    def _log_failure(self, err: BaseException) -> None:
        log.warning(
            "list/watch failed; retrying with backoff",
            extra={
                "resource": self._label,
                "namespace": self.namespace or "",
                "failures": self.failures,
                "error": f"{type(err).__name__}: {err}",
            },
        )

    # -- list ----------------------------------------------------------------------------------------------

    def _list(self) -> None:
        informer = self.informer
        # Kept as the store keeps them, page by page: 10,000 parsed objects at once would set the process's
        # memory high-water mark far above what the cache then holds.
        items: list[Prepared] = []
        token = ""
        list_rv = ""
        while True:
            query = [("limit", str(informer.page_size))]
            if token:
                query.append(("continue", token))
            if informer.label_selector:
                query.append(("labelSelector", informer.label_selector))
            try:
                page = informer.api.get(self.path, query)
            except ApiError as err:
                if err.gone and token:
                    # The continue token expired between pages: start the list again from the top.
                    items, token = [], ""
                    continue
                raise
            kind = str(page.get("kind", "")).removesuffix("List")
            for item in page.get("items") or []:
                # Items of a list carry no apiVersion and kind; watch events do. Make both look the same.
                item.setdefault("apiVersion", informer.resource.api_version)
                if kind:
                    item.setdefault("kind", kind)
                items.append(informer.store.prepare(informer.transform(item) if informer.transform else item))
            metadata = page.get("metadata") or {}
            list_rv = str(metadata.get("resourceVersion") or "")
            token = str(metadata.get("continue") or "")
            if not token:
                break
            if informer.is_stopped():
                return
        changes = informer.store.replace(items, namespace=self.namespace)
        self.resource_version = list_rv
        informer.observer.relisted(self._label)
        log.info(
            "listed",
            extra={
                "resource": self._label,
                "namespace": self.namespace or "",
                "objects": len(items),
                "added": len(changes.added),
                "updated": len(changes.updated),
                "deleted": len(changes.deleted),
                "rv": list_rv,
            },
        )
        for obj in changes.deleted:
            informer._dispatch(EventType.DELETED, obj)
        for old, new in changes.updated:
            informer._dispatch(EventType.MODIFIED, new, old)
        for obj in changes.added:
            informer._dispatch(EventType.ADDED, obj)
        self.synced.set()

    # -- watch ---------------------------------------------------------------------------------------------

    def _watch(self) -> str:
        """Follow one watch until it ends; return "timeout" (normal end) or "gone" (410 in the stream)."""
        informer = self.informer
        timeout = random.randint(informer.watch_timeout_seconds, 2 * informer.watch_timeout_seconds)
        query = [
            ("watch", "true"),
            ("resourceVersion", self.resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout)),
        ]
        if informer.label_selector:
            query.append(("labelSelector", informer.label_selector))
        stream = informer.api.stream(self.path, query, timeout=(10.0, timeout + 30.0))
        self.failures = 0
        with self._stream_lock:
            self._stream = stream
        if informer.is_stopped():
            stream.interrupt()
        try:
            for event in stream:
                if self._apply(event) == "gone":
                    return "gone"
        finally:
            with self._stream_lock:
                self._stream = None
        return "timeout"

    def _apply(self, event: JsonObject) -> str | None:
        informer = self.informer
        event_type = event.get("type")
        obj = event.get("object")
        if not isinstance(obj, dict):
            raise ValueError(f"watch event {event_type!r} without an object")
        if event_type == "ERROR":
            code = int(obj.get("code") or 0)
            if code == 410:
                return "gone"
            raise ApiError(
                code, str(obj.get("reason", "Unknown")), str(obj.get("message", "")), "WATCH", self.path
            )
        if event_type == "BOOKMARK":
            self.resource_version = resource_version(obj) or self.resource_version
            return None
        if informer.transform:
            obj = informer.transform(obj)
        if event_type in ("ADDED", "MODIFIED"):
            old = informer.store.upsert(obj)
            informer._dispatch(EventType.ADDED if old is None else EventType.MODIFIED, obj, old)
        elif event_type == "DELETED":
            informer.store.delete(object_key(obj))
            informer._dispatch(EventType.DELETED, obj)
        else:
            log.warning("unknown watch event type", extra={"resource": self._label, "type": str(event_type)})
        self.resource_version = resource_version(obj) or self.resource_version
        return None


def _safe_key(obj: JsonObject) -> str:
    try:
        return object_key(obj)
    except ValueError:
        return "?"
