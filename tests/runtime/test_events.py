"""Event recorder against the real API server: creation, aggregation of repeats, the per-object rate limit."""

from __future__ import annotations

from typing import Any

from controller.runtime.events import EventRecorder
from controller.runtime.kubeapi import CONFIGMAPS, EVENTS, KubeApi
from controller.testenv.controlplane import ControlPlane


class FakeClock:
    """Monotonic time the test moves by hand, for the token bucket's refill."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_configmap(kube: KubeApi, namespace: str, name: str) -> dict[str, Any]:
    created = kube.create(
        CONFIGMAPS.collection_path(namespace),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}},
    )
    return {"apiVersion": "v1", "kind": "ConfigMap", **created}


def events_for(kube: KubeApi, namespace: str, name: str) -> list[dict[str, Any]]:
    query = [("fieldSelector", f"involvedObject.name={name}")]
    items: list[dict[str, Any]] = kube.get(EVENTS.collection_path(namespace), query)["items"]
    return items


def test_an_event_is_created_for_the_object_and_shown_by_kubectl_describe(
    control_plane: ControlPlane, kube: KubeApi, namespace: str
) -> None:
    obj = make_configmap(kube, namespace, "subject")
    recorder = EventRecorder(kube, instance="test-pod")
    recorder.warning(obj, "JobFailed", "The tuning job failed: quota exceeded.")
    assert recorder.flush(10)
    [event] = events_for(kube, namespace, "subject")
    assert event["type"] == "Warning"
    assert event["reason"] == "JobFailed"
    assert event["message"] == "The tuning job failed: quota exceeded."
    assert event["count"] == 1
    assert event["source"]["component"] == "vertexops"
    assert event["reportingComponent"] == "vertexops"
    assert event["reportingInstance"] == "test-pod"
    involved = event["involvedObject"]
    assert (involved["kind"], involved["name"], involved["namespace"]) == ("ConfigMap", "subject", namespace)
    assert involved["uid"] == obj["metadata"]["uid"]
    described = control_plane.kubectl("describe", "configmap", "subject", "-n", namespace).stdout
    assert "JobFailed" in described
    assert "The tuning job failed: quota exceeded." in described


def test_a_burst_of_identical_events_becomes_one_event_with_a_count(kube: KubeApi, namespace: str) -> None:
    obj = make_configmap(kube, namespace, "noisy")
    recorder = EventRecorder(kube)
    for _ in range(12):
        recorder.normal(obj, "Polling", "Waiting for the tuning job to finish.")
    recorder.normal(obj, "Polling", "A different message is a different event.")
    assert recorder.flush(10)
    events = sorted(events_for(kube, namespace, "noisy"), key=lambda e: str(e["message"]))
    assert [(e["message"], e["count"]) for e in events] == [
        ("A different message is a different event.", 1),
        ("Waiting for the tuning job to finish.", 12),
    ]
    repeated = events[1]
    assert repeated["firstTimestamp"] <= repeated["lastTimestamp"]


def test_the_rate_limit_holds_writes_back_but_keeps_counting(kube: KubeApi, namespace: str) -> None:
    obj = make_configmap(kube, namespace, "flood")
    clock = FakeClock()
    recorder = EventRecorder(kube, burst=3, refill_seconds=60, clock=clock)
    for _ in range(10):
        recorder.warning(obj, "CreateFailed", "Permission denied.")
    assert recorder.flush(10)
    [event] = events_for(kube, namespace, "flood")
    assert event["count"] == 3  # three writes allowed; the other seven only counted
    clock.now += 60  # one token back
    recorder.warning(obj, "CreateFailed", "Permission denied.")
    assert recorder.flush(10)
    [event] = events_for(kube, namespace, "flood")
    assert event["count"] == 11


def test_an_object_without_kind_is_refused_without_raising(kube: KubeApi, namespace: str) -> None:
    recorder = EventRecorder(kube)
    recorder.normal({"metadata": {"name": "no-kind", "namespace": namespace}}, "Reason", "message")
    assert recorder.flush(10)
    assert events_for(kube, namespace, "no-kind") == []
