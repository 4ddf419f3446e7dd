"""Informer against the real API server: cache and handlers, paging, reconnects, 410 Gone, resync."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from controller.runtime.informer import EventType, Informer
from controller.runtime.kubeapi import CONFIGMAPS, EVENTS, KubeApi, ResourceRef
from controller.runtime.metrics import Metrics
from controller.testenv.controlplane import ControlPlane

from .helpers import eventually, widget
from .tcpproxy import TcpProxy


class Recorder:
    """Collects handler calls as (type, key) and remembers the objects handed over."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []
        self.objects: list[dict[str, Any]] = []

    def __call__(self, event_type: EventType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        metadata = obj["metadata"]
        with self.lock:
            self.calls.append((event_type.value, f"{metadata['namespace']}/{metadata['name']}"))
            self.objects.append(obj)

    def of(self, event_type: str) -> list[str]:
        with self.lock:
            return [key for kind, key in self.calls if kind == event_type]


def configmap(namespace: str, name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def start_informer() -> Iterator[Any]:
    started: list[Informer] = []

    def start(informer: Informer) -> Informer:
        started.append(informer)
        informer.start()
        assert informer.wait_for_sync(30), f"informer for {informer.resource} did not sync"
        return informer

    yield start
    for informer in started:
        informer.stop()


def server_names(kube: KubeApi, resource: ResourceRef, namespace: str) -> set[str]:
    return {item["metadata"]["name"] for item in kube.get(resource.collection_path(namespace))["items"]}


def cached_names(informer: Informer, namespace: str) -> set[str]:
    return {o["metadata"]["name"] for o in informer.list() if o["metadata"]["namespace"] == namespace}


def test_cache_and_handlers_follow_creates_updates_and_deletes(
    kube: KubeApi, namespace: str, metrics: Metrics, start_informer: Any
) -> None:
    path = CONFIGMAPS.collection_path(namespace)
    for index in range(5):  # more than one page of 2
        kube.create(path, configmap(namespace, f"pre-{index}"))
    recorder = Recorder()
    informer = Informer(kube, CONFIGMAPS, [namespace], page_size=2, observer=metrics)
    informer.add_handler(recorder)
    start_informer(informer)

    assert informer.has_synced()
    assert cached_names(informer, namespace) >= {f"pre-{i}" for i in range(5)}
    assert set(recorder.of("ADDED")) >= {f"{namespace}/pre-{i}" for i in range(5)}
    listed = informer.get(f"{namespace}/pre-0")
    assert listed is not None
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "ConfigMap")  # filled in for listed items

    kube.create(path, configmap(namespace, "new", a="1"))
    kube.merge_patch(CONFIGMAPS.object_path("pre-1", namespace), {"data": {"changed": "yes"}})
    kube.delete(CONFIGMAPS.object_path("pre-2", namespace))

    eventually(lambda: f"{namespace}/pre-2" in recorder.of("DELETED"), "DELETED handler for pre-2")
    eventually(lambda: f"{namespace}/new" in recorder.of("ADDED"), "ADDED handler for new")
    eventually(lambda: f"{namespace}/pre-1" in recorder.of("MODIFIED"), "MODIFIED handler for pre-1")
    assert informer.get(f"{namespace}/pre-2") is None
    new = informer.get(f"{namespace}/new")
    assert new is not None
    assert new["data"] == {"a": "1"}
    changed = informer.get(f"{namespace}/pre-1")
    assert changed is not None
    assert changed["data"] == {"changed": "yes"}
    assert cached_names(informer, namespace) == server_names(kube, CONFIGMAPS, namespace)
    assert sample(metrics, "vertexops_informer_relists_total", resource="configmaps") == 1
    assert sample(metrics, "vertexops_informer_events_total", resource="configmaps", type="DELETED") >= 1


def test_managed_fields_and_last_applied_annotation_are_dropped_from_the_cache(
    control_plane: ControlPlane, kube: KubeApi, namespace: str, start_informer: Any
) -> None:
    manifest = configmap(namespace, "applied", key="value")
    manifest["metadata"]["annotations"] = {"team": "ml"}
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    on_server = kube.get(CONFIGMAPS.object_path("applied", namespace))
    assert on_server["metadata"]["managedFields"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in on_server["metadata"]["annotations"]

    informer = start_informer(Informer(kube, CONFIGMAPS, [namespace]))
    control_plane.kubectl("apply", "-f", "-", input=json.dumps({**manifest, "data": {"key": "changed"}}))
    cached = eventually(
        lambda: (obj := informer.get(f"{namespace}/applied")) and obj["data"]["key"] == "changed" and obj,
        "the watched update in the cache",
    )
    assert "managedFields" not in cached["metadata"]
    assert cached["metadata"]["annotations"] == {"team": "ml"}


def test_custom_resources_in_all_namespaces(
    kube: KubeApi, namespace: str, widgets: ResourceRef, start_informer: Any
) -> None:
    recorder = Recorder()
    informer = Informer(kube, widgets)  # all namespaces
    informer.add_handler(recorder)
    start_informer(informer)
    kube.create(widgets.collection_path(namespace), widget(namespace, "w1", size=1))
    eventually(lambda: informer.get(f"{namespace}/w1"), "w1 in the cache")
    kube.merge_patch(widgets.object_path("w1", namespace), {"spec": {"size": 2}})
    eventually(
        lambda: (obj := informer.get(f"{namespace}/w1")) and obj["spec"]["size"] == 2,
        "the size change cached",
    )
    kube.delete(widgets.object_path("w1", namespace))
    eventually(lambda: f"{namespace}/w1" in recorder.of("DELETED"), "DELETED handler for w1")
    assert informer.get(f"{namespace}/w1") is None


def test_a_cut_connection_is_resumed_from_the_last_resource_version_without_losing_events(
    *,
    proxied_api_client: k8s.ApiClient,
    proxy: TcpProxy,
    kube: KubeApi,
    namespace: str,
    metrics: Metrics,
    start_informer: Any,
) -> None:
    path = CONFIGMAPS.collection_path(namespace)
    for name in ("keep", "doomed", "changing"):
        kube.create(path, configmap(namespace, name))
    recorder = Recorder()
    informer = Informer(
        KubeApi(proxied_api_client),
        CONFIGMAPS,
        [namespace],
        observer=metrics,
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.5,
    )
    informer.add_handler(recorder)
    start_informer(informer)

    proxy.block()
    kube.delete(CONFIGMAPS.object_path("doomed", namespace))
    kube.merge_patch(CONFIGMAPS.object_path("changing", namespace), {"data": {"v": "2"}})
    kube.create(path, configmap(namespace, "born-offline"))
    # The informer notices the cut and keeps retrying against the refused connection.
    eventually(
        lambda: (
            sample(metrics, "vertexops_informer_watch_restarts_total", resource="configmaps", reason="error")
            >= 2
        ),
        "failed reconnect attempts while the connection is blocked",
    )
    proxy.unblock()

    eventually(lambda: f"{namespace}/doomed" in recorder.of("DELETED"), "the offline deletion delivered")
    eventually(lambda: informer.get(f"{namespace}/born-offline"), "the offline creation cached")
    eventually(
        lambda: ((informer.get(f"{namespace}/changing") or {}).get("data") or {}).get("v") == "2",
        "the offline update cached",
    )
    assert cached_names(informer, namespace) == server_names(kube, CONFIGMAPS, namespace)
    # Resumed from its resourceVersion: no relist was needed, and each change arrived exactly once.
    assert sample(metrics, "vertexops_informer_relists_total", resource="configmaps") == 1
    assert recorder.of("DELETED").count(f"{namespace}/doomed") == 1
    assert recorder.of("ADDED").count(f"{namespace}/born-offline") == 1


def test_410_gone_relists_and_delivers_the_deletions_missed_meanwhile(
    *,
    control_plane: ControlPlane,
    proxied_api_client: k8s.ApiClient,
    proxy: TcpProxy,
    kube: KubeApi,
    namespace: str,
    metrics: Metrics,
    start_informer: Any,
) -> None:
    """The informer reconnects from a resourceVersion whose history is gone.

    While the informer is cut off, objects change, etcd is compacted past the informer's resourceVersion
    and the API server restarts (so its watch cache starts from the compacted revision, as after an
    upgrade). The reconnecting watch is answered with 410 Gone; the informer must relist and report the
    deletion it could no longer see as an event.
    """
    path = CONFIGMAPS.collection_path(namespace)
    for name in ("keep", "doomed", "changing"):
        kube.create(path, configmap(namespace, name))
    recorder = Recorder()
    informer = Informer(
        KubeApi(proxied_api_client),
        CONFIGMAPS,
        [namespace],
        observer=metrics,
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.5,
    )
    informer.add_handler(recorder)
    start_informer(informer)
    assert sample(metrics, "vertexops_informer_relists_total", resource="configmaps") == 1

    proxy.block()
    kube.delete(CONFIGMAPS.object_path("doomed", namespace))
    kube.merge_patch(CONFIGMAPS.object_path("changing", namespace), {"data": {"v": "2"}})
    kube.create(path, configmap(namespace, "born-offline"))
    control_plane.compact_etcd()
    control_plane.stop_apiserver()
    control_plane.start_apiserver()
    proxy.unblock()

    eventually(
        lambda: sample(metrics, "vertexops_informer_relists_total", resource="configmaps") >= 2,
        "a relist after 410 Gone",
    )
    assert (
        sample(metrics, "vertexops_informer_watch_restarts_total", resource="configmaps", reason="gone") >= 1
    )
    eventually(lambda: f"{namespace}/doomed" in recorder.of("DELETED"), "the missed deletion delivered")
    assert f"{namespace}/born-offline" in recorder.of("ADDED")
    assert f"{namespace}/changing" in recorder.of("MODIFIED")
    assert cached_names(informer, namespace) == server_names(kube, CONFIGMAPS, namespace)
    # The relisted informer watches on: a later change still arrives.
    kube.create(path, configmap(namespace, "after-relist"))
    eventually(lambda: informer.get(f"{namespace}/after-relist"), "a change after the relist")


def core_event(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "subject",
            "namespace": namespace,
        },
        "reason": "Test",
        "message": "an event used as a watched object",
        "type": "Normal",
    }


def test_410_from_compacted_etcd_history_on_a_resource_without_watch_cache(
    *,
    control_plane: ControlPlane,
    proxied_api_client: k8s.ApiClient,
    proxy: TcpProxy,
    kube: KubeApi,
    namespace: str,
    metrics: Metrics,
    start_informer: Any,
) -> None:
    """Core Events are not held in the API server's watch cache, so their watches read etcd directly.

    Compacting etcd past the informer's resourceVersion while it is cut off is then enough: the
    reconnecting watch gets 410 Gone straight from etcd's compacted history, with no API server restart.
    """
    path = EVENTS.collection_path(namespace)
    for name in ("keep", "doomed"):
        kube.create(path, core_event(namespace, name))
    recorder = Recorder()
    informer = Informer(
        KubeApi(proxied_api_client),
        EVENTS,
        [namespace],
        observer=metrics,
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.5,
    )
    informer.add_handler(recorder)
    start_informer(informer)

    proxy.block()
    kube.delete(EVENTS.object_path("doomed", namespace))
    kube.create(path, core_event(namespace, "born-offline"))
    control_plane.compact_etcd()
    proxy.unblock()

    eventually(
        lambda: (
            sample(metrics, "vertexops_informer_watch_restarts_total", resource="events", reason="gone") >= 1
        ),
        "410 Gone from the compacted history",
    )
    eventually(lambda: f"{namespace}/doomed" in recorder.of("DELETED"), "the missed deletion delivered")
    assert sample(metrics, "vertexops_informer_relists_total", resource="events") == 2
    assert f"{namespace}/born-offline" in recorder.of("ADDED")
    assert cached_names(informer, namespace) == server_names(kube, EVENTS, namespace)


def test_a_watch_ended_by_the_server_timeout_is_resumed_without_a_relist(
    kube: KubeApi, namespace: str, metrics: Metrics, start_informer: Any
) -> None:
    informer = start_informer(
        Informer(kube, CONFIGMAPS, [namespace], watch_timeout_seconds=1, observer=metrics)
    )
    eventually(
        lambda: (
            sample(
                metrics, "vertexops_informer_watch_restarts_total", resource="configmaps", reason="timeout"
            )
            >= 2
        ),
        "two watches ended by timeoutSeconds",
    )
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "late"))
    eventually(lambda: informer.get(f"{namespace}/late"), "an object created after several watch restarts")
    assert sample(metrics, "vertexops_informer_relists_total", resource="configmaps") == 1


def test_resync_offers_every_cached_object_again(kube: KubeApi, namespace: str, start_informer: Any) -> None:
    kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "steady"))
    recorder = Recorder()
    informer = Informer(kube, CONFIGMAPS, [namespace], resync_period_seconds=0.2)
    informer.add_handler(recorder)
    start_informer(informer)
    eventually(lambda: recorder.of("SYNC").count(f"{namespace}/steady") >= 2, "two resyncs of the object")
    assert recorder.of("ADDED").count(f"{namespace}/steady") == 1


def test_several_namespaces_are_watched_and_relisted_separately(
    api_client: k8s.ApiClient, kube: KubeApi, namespace: str, start_informer: Any
) -> None:
    other = f"{namespace}-b"
    core = k8s.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": other}})
    try:
        kube.create(CONFIGMAPS.collection_path(namespace), configmap(namespace, "in-a"))
        kube.create(CONFIGMAPS.collection_path(other), configmap(other, "in-b"))
        informer = start_informer(Informer(kube, CONFIGMAPS, [namespace, other]))
        assert informer.get(f"{namespace}/in-a") is not None
        assert informer.get(f"{other}/in-b") is not None
        kube.delete(CONFIGMAPS.object_path("in-b", other))
        eventually(lambda: informer.get(f"{other}/in-b") is None, "deletion in the second namespace")
        assert informer.get(f"{namespace}/in-a") is not None
    finally:
        core.delete_namespace(other)
