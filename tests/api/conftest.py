"""Fixtures for the API tests: the CRDs installed once per session on the shared control plane."""

from __future__ import annotations

import pytest

from controller.crdgen import install_crds
from controller.testenv.controlplane import ControlPlane


@pytest.fixture(scope="session")
def crds(control_plane: ControlPlane) -> ControlPlane:
    """The control plane with our CRDs applied and Established."""
    install_crds(control_plane.kubectl)
    return control_plane
