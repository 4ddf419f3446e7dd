"""Helpers for the end-to-end tests: manifests, custom-object access with polling, condition lookups."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s

from controller.api.resource import GROUP, VERSION
from emulator.faults import FaultRule


def tuning_job(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "baseModel": "gemini-2.5-flash",
        "supervisedTuningSpec": {
            "trainingDatasetUri": "gs://vertexops-test/train.jsonl",
            "validationDatasetUri": "gs://vertexops-test/validation.jsonl",
            "hyperParameters": {"epochCount": 2, "adapterSize": "ADAPTER_SIZE_FOUR"},
        },
        "tunedModelDisplayName": name,
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TuningJob",
        "metadata": {"name": name},
        "spec": body,
    }


def tuned_model(name: str, examples: int = 8, **spec: Any) -> dict[str, Any]:
    """A TunedModel manifest with `examples` inline training examples; `spec` overrides any field."""
    body: dict[str, Any] = {
        "baseModel": "models/gemini-1.5-flash-001-tuning",
        "displayName": name,
        "tuningTask": {
            "hyperparameters": {"epochCount": 2, "batchSize": 2},
            "trainingData": {
                "examples": [{"textInput": f"{i} + {i}", "output": str(2 * i)} for i in range(examples)]
            },
        },
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TunedModel",
        "metadata": {"name": name},
        "spec": body,
    }


class Resources:
    """Custom-object access for one namespace, with polling helpers."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str) -> None:
        self.api = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.namespace = namespace

    def create(self, obj: dict[str, Any], plural: str = "tuningjobs") -> dict[str, Any]:
        result: dict[str, Any] = self.api.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, obj
        )
        return result

    def get(self, name: str, plural: str = "tuningjobs") -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.api.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name
            )
            return result
        except k8s.ApiException as err:
            if err.status == 404:
                return None
            raise

    def delete(self, name: str, plural: str = "tuningjobs") -> None:
        self.api.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)

    def patch(self, name: str, patch: dict[str, Any], plural: str = "tuningjobs") -> None:
        self.api.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name, patch)

    def wait_for(
        self,
        name: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 60,
        plural: str = "tuningjobs",
        what: str = "condition",
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = self.get(name, plural)
            if last is not None and predicate(last):
                return last
            time.sleep(0.2)
        raise AssertionError(f"{plural}/{name}: {what} not reached in {timeout}s; last seen: {last}")

    def wait_gone(self, name: str, timeout: float = 60, plural: str = "tuningjobs") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get(name, plural) is None:
                return
            time.sleep(0.2)
        raise AssertionError(f"{plural}/{name} still present after {timeout}s: {self.get(name, plural)}")

    def events(self, name: str) -> list[dict[str, Any]]:
        items = self.core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        ).items
        return [{"type": e.type, "reason": e.reason, "message": e.message} for e in items]

    def wait_for_event(
        self, name: str, reason: str, type_: str | None = None, timeout: float = 30
    ) -> dict[str, Any]:
        """The first event of `reason` (and `type_`) about `name`. The operator sends events from a thread of
        their own after the status write, so a test that has seen a condition waits for its event too."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events(name):
                if event["reason"] == reason and type_ in (None, event["type"]):
                    return event
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {reason} event about {name} in {timeout}s: {self.events(name)}")
            time.sleep(0.2)


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return None


def is_true(obj: dict[str, Any], type_: str) -> bool:
    c = condition(obj, type_)
    return c is not None and c["status"] == "True"


def wait_until_fired(rule: FaultRule, what: str, timeout: float = 30.0) -> None:
    """Wait until an emulator fault has fired, i.e. the call it holds back has reached the emulator.

    A create intent in status says the operator is about to call; killing it then may land before the
    HTTP request is sent. Tests about a kill *inside* the call wait for this instead.
    """
    deadline = time.monotonic() + timeout
    while rule.hits < 1:
        assert time.monotonic() < deadline, f"{what} never reached the emulator"
        time.sleep(0.02)
