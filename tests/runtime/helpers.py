"""Small helpers shared by the runtime tests: polling for asynchronous outcomes, a test custom resource."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from controller.runtime.kubeapi import ResourceRef

T = TypeVar("T")

# Outcomes that happen asynchronously are polled for, with a bound far above what they need: the bound is
# a safety net for a broken build, never a performance claim.
TIMEOUT = 30.0

WIDGETS = ResourceRef("runtime-test.vertexops.dev", "v1", "widgets")
WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.runtime-test.vertexops.dev
spec:
  group: runtime-test.vertexops.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              configMapName: {type: string}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"""


def eventually(check: Callable[[], T], what: str, timeout: float = TIMEOUT, interval: float = 0.05) -> T:
    """Poll `check` until it returns something truthy and return that; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what} (last value: {last!r})")
        time.sleep(interval)
        last = check()
    return last


def widget(namespace: str, name: str, **spec: object) -> dict[str, object]:
    return {
        "apiVersion": WIDGETS.api_version,
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": dict(spec),
    }
