"""Which Secrets the operator reads, as the API server's audit log records them.

The behaviour tests elsewhere show what a resource reports; only the audit log shows what was *not* read.
This module runs its own control plane with auditing of Secret access switched on.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.support import Resources, condition, is_true, tuned_model
from kubernetes import client as k8s

from controller.crdgen import install_crds
from controller.testenv.controlplane import ControlPlane
from controller.testenv.operator import OPERATOR_NAMESPACE, OPERATOR_SERVICE_ACCOUNT, grant_operator_rights
from controller.testenv.tools import resolve_tools
from emulator.server import Emulator
from reliability.support import Operators, cond_is

PLURAL = "tunedmodels"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SERVICE_ACCOUNT}"
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    resources: [{group: "", resources: ["secrets"]}]
  - level: None
"""


@pytest.fixture(scope="module")
def audited_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, Path]]:
    folder = tmp_path_factory.mktemp("audit")
    policy, log = folder / "policy.yaml", folder / "audit.log"
    policy.write_text(AUDIT_POLICY)
    args = (f"--audit-policy-file={policy}", f"--audit-log-path={log}", "--audit-log-mode=blocking")
    with ControlPlane(tools=resolve_tools(install=True), extra_apiserver_args=args) as plane:
        install_crds(plane.kubectl)
        yield plane, log


def _secret_reads(log: Path) -> list[tuple[str, str, str]]:
    """(verb, namespace, name) of every Secret request the operator made."""
    reads = []
    for line in log.read_text().splitlines():
        event: dict[str, Any] = json.loads(line)
        if event.get("user", {}).get("username") != OPERATOR_USER or event.get("stage") != "ResponseComplete":
            continue
        ref = event.get("objectRef") or {}
        reads.append((event["verb"], ref.get("namespace", ""), ref.get("name", "")))
    return reads


def _secret(name: str, value: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"apiKey": base64.b64encode(value.encode()).decode()}}


def test_the_operator_reads_only_referenced_secrets_of_the_resources_own_namespace(
    audited_plane: tuple[ControlPlane, Path], tmp_path: Path
) -> None:
    plane, log = audited_plane
    team_a, team_b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    key = f"AIzaSy-audited-{uuid.uuid4().hex}"
    with plane.api_client() as admin, Emulator() as emulator:
        core = k8s.CoreV1Api(admin)
        for ns in (team_a, team_b):
            core.create_namespace({"metadata": {"name": ns}})
        emulator.config.valid_credentials = [key]
        emulator.set_time_scale(20)
        core.create_namespaced_secret(team_a, _secret("team-a-key", key))
        core.create_namespaced_secret(team_a, _secret("unrelated", "not-for-the-operator"))
        core.create_namespaced_secret(team_b, _secret("gemini-key", key))  # same name A's borrower asks for
        core.create_namespaced_secret(team_b, _secret("team-b-key", key))
        operators = Operators(grant_operator_rights(plane), emulator, tmp_path, [team_a, team_b])
        try:
            operators.start()
            a = Resources(admin, team_a)
            a.create(tuned_model("owner", apiKeySecretRef={"name": "team-a-key", "key": "apiKey"}), PLURAL)
            a.create(tuned_model("borrower", apiKeySecretRef={"name": "gemini-key", "key": "apiKey"}), PLURAL)
            Resources(admin, team_b).create(tuned_model("keyless"), PLURAL)  # no reference: no Secret read

            a.wait_for("owner", lambda o: is_true(o, "Ready"), timeout=120, plural=PLURAL, what="Ready")
            borrower = a.wait_for("borrower", lambda o: cond_is(o, "Stalled", "True"), plural=PLURAL)
            assert condition(borrower, "Stalled")["reason"] == "SecretNotFound"  # type: ignore[index]
            time.sleep(2)  # a few more reconciles, and the audit backend flushed
        finally:
            operators.stop_all()

    reads = _secret_reads(log)
    assert ("get", team_a, "team-a-key") in reads, reads  # the audit log does record the operator's reads
    allowed = {(team_a, "team-a-key"), (team_a, "gemini-key")}
    assert {(ns, name) for _, ns, name in reads} <= allowed, reads
    assert {verb for verb, _, _ in reads} == {"get"}, reads
