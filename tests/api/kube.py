"""Small helpers for running kubectl as a user would."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from controller.testenv.controlplane import ControlPlane


def kubectl_apply(
    control_plane: ControlPlane, namespace: str, manifest: dict[str, Any] | str
) -> subprocess.CompletedProcess[str]:
    """`kubectl apply` as a user runs it (client-side, strict field validation), without raising."""
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    return control_plane.kubectl("apply", "-n", namespace, "-f", "-", input=text, check=False)
