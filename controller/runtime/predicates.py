"""Event filters for `Manager.add_controller(predicate=...)`."""

from __future__ import annotations

from controller.runtime.informer import EventType
from controller.runtime.kubeapi import JsonObject

# Fields that change on every write and say nothing about what the user or the world wants.
_VOLATILE_METADATA = ("resourceVersion", "managedFields")


def ignore_status_only_updates(event_type: EventType, obj: JsonObject, old: JsonObject | None) -> bool:
    """Skip updates that changed nothing but status (as controller-runtime's generation predicate does).

    A reconciler's own status write comes back as an update event; acting on it at once would override the
    reconciler's own choice of when to look again (a Stalled resource would retry immediately instead of
    after its back-off). Spec, metadata (labels, annotations, finalizers, deletion) and every other event
    kind still pass.
    """
    if event_type is not EventType.MODIFIED or old is None:
        return True
    return _without_status(obj) != _without_status(old)


def _without_status(obj: JsonObject) -> JsonObject:
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _VOLATILE_METADATA}
    return {**{k: v for k, v in obj.items() if k not in ("status", "metadata")}, "metadata": metadata}
