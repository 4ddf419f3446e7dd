"""Only changes a user (or the world) made wake the reconciler; its own status writes do not."""

from __future__ import annotations

import copy

from controller.runtime.informer import EventType
from controller.runtime.predicates import ignore_status_only_updates

BASE = {
    "apiVersion": "tuning.vertexops.dev/v1alpha1",
    "kind": "TuningJob",
    "metadata": {
        "name": "a",
        "namespace": "n",
        "resourceVersion": "1",
        "generation": 1,
        "labels": {"team": "x"},
    },
    "spec": {"baseModel": "gemini-2.5-flash"},
    "status": {"state": "JOB_STATE_RUNNING"},
}


def _changed(**edits: object) -> dict[str, object]:
    obj = copy.deepcopy(BASE)
    for path, value in edits.items():
        target = obj
        *parents, leaf = path.split("__")
        for part in parents:
            target = target[part]  # type: ignore[assignment]
        target[leaf] = value  # type: ignore[index]
    return obj


def test_status_and_resource_version_only_is_skipped() -> None:
    new = _changed(status__state="JOB_STATE_SUCCEEDED", metadata__resourceVersion="2")
    assert not ignore_status_only_updates(EventType.MODIFIED, new, BASE)


def test_spec_metadata_and_deletion_pass() -> None:
    for new in (
        _changed(spec__baseModel="gemini-2.5-pro", metadata__generation=2),
        _changed(metadata__labels={"team": "y"}),
        _changed(metadata__finalizers=["tuning.vertexops.dev/finalizer"]),
        _changed(metadata__deletionTimestamp="2026-11-21T00:00:00Z"),
    ):
        assert ignore_status_only_updates(EventType.MODIFIED, new, BASE)


def test_other_event_kinds_always_pass() -> None:
    for kind in (EventType.ADDED, EventType.DELETED, EventType.SYNC):
        assert ignore_status_only_updates(kind, BASE, None)
