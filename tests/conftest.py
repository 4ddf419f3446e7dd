"""Shared fixtures: one real control plane per test session, a fresh namespace per test."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s

from controller.testenv.controlplane import ControlPlane
from controller.testenv.tools import resolve_tools

OUR_GROUP = "tuning.vertexops.dev"

# Application Default Credentials must never probe the metadata server (not on loopback): every Google
# identity in the tests comes from an ADC file whose token endpoint is the emulator.
os.environ["NO_GCE_CHECK"] = "True"


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    with ControlPlane(tools=resolve_tools(install=True)) as cp:
        yield cp


@pytest.fixture(scope="session")
def api_client(control_plane: ControlPlane) -> Iterator[k8s.ApiClient]:
    with control_plane.api_client() as api:
        yield api


@pytest.fixture
def namespace(api_client: k8s.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = k8s.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": name, "labels": {"vertexops.dev/test": "true"}}})
    yield name
    _release_our_objects(api_client, name)
    with contextlib.suppress(k8s.ApiException):
        core.delete_namespace(name)


def _release_our_objects(api_client: k8s.ApiClient, namespace: str) -> None:
    """Delete our custom objects in the namespace, dropping finalizers no operator is left to remove.

    Without a controller-manager a deleted namespace is never emptied, so a test's TuningJobs would otherwise
    stay visible to the all-namespace informers of later tests.
    """
    ext = k8s.ApiextensionsV1Api(api_client)
    custom = k8s.CustomObjectsApi(api_client)
    try:
        crds = [c for c in ext.list_custom_resource_definition().items if c.spec.group == OUR_GROUP]
    except k8s.ApiException:
        return
    for crd in crds:
        plural, version = crd.spec.names.plural, crd.spec.versions[0].name
        with contextlib.suppress(k8s.ApiException):
            for obj in custom.list_namespaced_custom_object(OUR_GROUP, version, namespace, plural)["items"]:
                name = obj["metadata"]["name"]
                with contextlib.suppress(k8s.ApiException):
                    custom.patch_namespaced_custom_object(
                        OUR_GROUP, version, namespace, plural, name, {"metadata": {"finalizers": None}}
                    )
                with contextlib.suppress(k8s.ApiException):
                    custom.delete_namespaced_custom_object(OUR_GROUP, version, namespace, plural, name)


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> ControlPlane:
    """The control plane with the vertexops CRDs applied and Established."""
    from controller.crdgen import install_crds

    install_crds(control_plane.kubectl)
    return control_plane
