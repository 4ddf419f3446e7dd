"""Fixtures for the runtime tests: a raw API helper, a cuttable connection, a test custom resource."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from controller.runtime.kubeapi import KubeApi, ResourceRef
from controller.testenv.controlplane import ControlPlane

from .helpers import WIDGET_CRD, WIDGETS
from .tcpproxy import TcpProxy


@pytest.fixture
def kube(api_client: k8s.ApiClient) -> KubeApi:
    """Direct admin access, for the test's own reads and writes (never through the proxy)."""
    return KubeApi(api_client)


@pytest.fixture
def proxy(control_plane: ControlPlane) -> Iterator[TcpProxy]:
    target = urlparse(control_plane.server)
    assert target.hostname and target.port
    tcp_proxy = TcpProxy(target.hostname, target.port)
    yield tcp_proxy
    tcp_proxy.close()


@pytest.fixture
def proxied_api_client(control_plane: ControlPlane, proxy: TcpProxy) -> Iterator[k8s.ApiClient]:
    """An admin client whose connections go through `proxy`, so a test can cut them."""
    configuration = k8s.Configuration()
    k8s_config.load_kube_config(config_file=str(control_plane.kubeconfig), client_configuration=configuration)
    configuration.host = proxy.url
    with k8s.ApiClient(configuration) as client:
        yield client


@pytest.fixture(scope="session")
def widgets(control_plane: ControlPlane) -> ResourceRef:
    """A small namespaced custom resource, so the runtime is tested on a CRD without depending on ours."""
    control_plane.kubectl("apply", "-f", "-", input=WIDGET_CRD)
    control_plane.kubectl(
        "wait", "--for=condition=Established", "crd/widgets.runtime-test.vertexops.dev", "--timeout=60s"
    )
    return WIDGETS
