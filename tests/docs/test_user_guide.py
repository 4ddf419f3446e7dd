"""The fixes the user guide prescribes work: its commands are taken from the pages and run as written.

- troubleshooting.md: switching a stuck deletion to `deletionPolicy: Orphan` releases it without calling
  Google; removing the finalizer by hand releases a resource no operator looks after.
- credentials.md: the key-file patch and the Workload Identity annotation apply to the chart's objects.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from readme_commands import ROOT, blocks_of, shell_commands

from controller import docgen
from controller.api.resource import GROUP, VERSION
from controller.testenv.controlplane import ControlPlane
from controller.testenv.operator import OperatorProcess
from emulator.server import Emulator

TROUBLESHOOTING = ROOT / "docs" / "troubleshooting.md"
CREDENTIALS = ROOT / "docs" / "credentials.md"
FINALIZER = "tuning.vertexops.dev/finalizer"


def _command(page: Path, starts: str, contains: str) -> str:
    """The one command of `page`'s shell blocks that starts with `starts` and contains `contains`."""
    found = [c for c in shell_commands(page.read_text()) if c.startswith(starts) and contains in c]
    assert len(found) == 1, f"{page.name}: expected one `{starts} ... {contains}` command, found {found}"
    return found[0]


def _kubectl(control_plane: ControlPlane, command: str, **names: str) -> subprocess.CompletedProcess[str]:
    """Run a documented kubectl command with its placeholders (NAME, ml-team, ...) replaced."""
    words = shlex.split(command)
    assert words[0] == "kubectl"
    words = [names.get(w, w) for w in words[1:]]
    return control_plane.kubectl(*words)


def _tuning_job(name: str, finalizers: list[str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if finalizers:
        metadata["finalizers"] = finalizers
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "TuningJob",
        "metadata": metadata,
        "spec": {
            "baseModel": "gemini-2.5-flash",
            "supervisedTuningSpec": {"trainingDatasetUri": "gs://my-tuning-data/support/train.jsonl"},
        },
    }


def _get(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = custom.get_namespaced_custom_object(
            GROUP, VERSION, namespace, "tuningjobs", name
        )
        return obj
    except k8s.ApiException as err:
        if err.status == 404:
            return None
        raise


def _wait(what: str, check: Callable[[], bool], timeout: float = 90, detail: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"not reached in {timeout:.0f}s: {what}\n{detail()}")


def _condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return dict(c)
    return {}


def test_orphan_patch_releases_a_deletion_the_operator_cannot_finish(
    control_plane: ControlPlane,
    api_client: k8s.ApiClient,
    readme_operator: OperatorProcess,
    docs_emulator: Emulator,
    namespace: str,
) -> None:
    custom = k8s.CustomObjectsApi(api_client)
    docs_emulator.set_time_scale(1)  # the job stays queued for a minute: deleting it must cancel it
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tuningjobs", _tuning_job("stuck"))
    log = readme_operator.log_tail
    _wait(
        "job created",
        lambda: bool(((_get(custom, namespace, "stuck") or {}).get("status") or {}).get("name")),
        detail=log,
    )

    docs_emulator.add_fault("permission_denied", "tuningJobs.cancel")
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "tuningjobs", "stuck")
    _wait(
        "Stalled=True PermissionDenied while deleting",
        lambda: _condition(_get(custom, namespace, "stuck"), "Stalled").get("reason") == "PermissionDenied",
        detail=lambda: f"{_get(custom, namespace, 'stuck')}\n{log()}",
    )
    stuck = _get(custom, namespace, "stuck")
    assert stuck is not None and FINALIZER in stuck["metadata"]["finalizers"]

    orphan = _command(TROUBLESHOOTING, "kubectl patch tj", "deletionPolicy")
    _kubectl(control_plane, orphan, NAME="stuck", **{"ml-team": namespace})
    _wait("resource gone", lambda: _get(custom, namespace, "stuck") is None, detail=log)
    events = k8s.CoreV1Api(api_client).list_namespaced_event(
        namespace, field_selector="involvedObject.name=stuck"
    )
    assert "Orphaned" in {e.reason for e in events.items}, "the finalizer went by another path than Orphan"


def test_removing_the_finalizer_by_hand_releases_an_unattended_resource(
    crds: ControlPlane, api_client: k8s.ApiClient, namespace: str
) -> None:
    custom = k8s.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "tuningjobs", _tuning_job("orphaned", finalizers=[FINALIZER])
    )
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, "tuningjobs", "orphaned")
    held = _get(custom, namespace, "orphaned")
    assert held is not None and held["metadata"].get("deletionTimestamp"), (
        "no operator: the finalizer holds it"
    )

    remove = _command(TROUBLESHOOTING, "kubectl patch tj", "finalizers")
    _kubectl(crds, remove, NAME="orphaned", **{"ml-team": namespace})
    _wait("resource gone", lambda: _get(custom, namespace, "orphaned") is None, timeout=30)


def test_credentials_patches_apply_to_the_charts_objects(
    control_plane: ControlPlane, api_client: k8s.ApiClient, tmp_path: Path
) -> None:
    helm = [str(control_plane.tools.helm), f"--kubeconfig={control_plane.kubeconfig}"]
    subprocess.run(
        [*helm, "install", "vertexops", "charts/vertexops", "-n", "vertexops-system", "--create-namespace"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    try:
        # The key file: the Secret, then the documented patch, as written.
        secret = _command(
            CREDENTIALS, "kubectl create secret generic vertexops-google-key", "--from-file=key.json="
        )
        (tmp_path / "key.json").write_text('{"type": "service_account"}')
        words = [w.replace("./key.json", str(tmp_path / "key.json")) for w in shlex.split(secret)[1:]]
        control_plane.kubectl(*words)
        patch = next(
            b for b in blocks_of(CREDENTIALS.read_text(), "yaml") if "GOOGLE_APPLICATION_CREDENTIALS" in b
        )
        (tmp_path / "google-key-patch.yaml").write_text(patch)
        command = _command(CREDENTIALS, "kubectl patch deployment vertexops", "--patch-file")
        words = [str(tmp_path / w) if w == "google-key-patch.yaml" else w for w in shlex.split(command)[1:]]
        control_plane.kubectl(*words)

        deployment = k8s.AppsV1Api(api_client).read_namespaced_deployment("vertexops", "vertexops-system")
        pod = deployment.spec.template.spec
        container = next(c for c in pod.containers if c.name == "operator")
        env = {e.name: e.value for e in container.env}
        assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/google/key.json"
        assert "VERTEXOPS_LOCATION" in env, "the patch must add to the chart's environment, not replace it"
        mount = next(m for m in container.volume_mounts if m.name == "google-key")
        assert (mount.mount_path, mount.read_only) == ("/var/run/secrets/google", True)
        volume = next(v for v in pod.volumes if v.name == "google-key")
        assert volume.secret.secret_name == "vertexops-google-key"

        # Workload Identity with the plain bundle: the annotation, then the restart.
        annotate = _command(CREDENTIALS, "kubectl annotate serviceaccount vertexops", "")
        control_plane.kubectl(*shlex.split(annotate)[1:])
        account = k8s.CoreV1Api(api_client).read_namespaced_service_account("vertexops", "vertexops-system")
        assert account.metadata.annotations["iam.gke.io/gcp-service-account"] == (
            "vertexops@my-project.iam.gserviceaccount.com"
        )
        restart = _command(CREDENTIALS, "kubectl rollout restart", "")
        control_plane.kubectl(*shlex.split(restart)[1:])
        restarted = k8s.AppsV1Api(api_client).read_namespaced_deployment("vertexops", "vertexops-system")
        assert "kubectl.kubernetes.io/restartedAt" in (restarted.spec.template.metadata.annotations or {})
    finally:
        subprocess.run(
            [*helm, "uninstall", "vertexops", "-n", "vertexops-system"], check=False, capture_output=True
        )
        control_plane.kubectl(
            "delete", "secret", "vertexops-google-key", "-n", "vertexops-system", "--ignore-not-found"
        )


def test_the_charts_credentials_value_mounts_the_documented_secret(
    control_plane: ControlPlane, api_client: k8s.ApiClient, tmp_path: Path
) -> None:
    """The chart's way to a key file: the documented Secret and `helm upgrade --install`, as written."""
    secret = _command(CREDENTIALS, "kubectl create secret generic vertexops-google-key", "credentials.json=")
    install = _command(CREDENTIALS, "helm upgrade --install vertexops", "google.credentials.secretName")
    (tmp_path / "key.json").write_text('{"type": "service_account"}')
    core = k8s.CoreV1Api(api_client)
    if not any(n.metadata.name == "vertexops-system" for n in core.list_namespace().items):
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="vertexops-system")))
    helm = [str(control_plane.tools.helm), f"--kubeconfig={control_plane.kubeconfig}"]
    try:
        words = [w.replace("./key.json", str(tmp_path / "key.json")) for w in shlex.split(secret)[1:]]
        control_plane.kubectl(*words)
        subprocess.run(
            [*helm, *shlex.split(install)[1:]], cwd=ROOT, check=True, capture_output=True, timeout=300
        )
        deployment = k8s.AppsV1Api(api_client).read_namespaced_deployment("vertexops", "vertexops-system")
        pod = deployment.spec.template.spec
        container = next(c for c in pod.containers if c.name == "operator")
        env = {e.name: e.value for e in container.env}
        assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/google/credentials.json"
        mount = next(m for m in container.volume_mounts if m.mount_path == "/var/run/secrets/google")
        assert mount.read_only
        volume = next(v for v in pod.volumes if v.name == mount.name)
        assert volume.secret.secret_name == "vertexops-google-key"
        assert [item.key for item in volume.secret.items] == ["credentials.json"]
    finally:
        subprocess.run(
            [*helm, "uninstall", "vertexops", "-n", "vertexops-system"], check=False, capture_output=True
        )
        control_plane.kubectl(
            "delete", "secret", "vertexops-google-key", "-n", "vertexops-system", "--ignore-not-found"
        )


def _quoted(page: Path, needle: str) -> str:
    """The one `text` block of `page` that contains `needle`."""
    found = [b for b in blocks_of(page.read_text(), "text") if needle in b]
    assert len(found) == 1, f"{page.name}: expected one quoted block with {needle!r}, found {len(found)}"
    return found[0].strip()


def test_troubleshooting_quotes_the_operators_real_messages(
    api_client: k8s.ApiClient, readme_operator: OperatorProcess, docs_emulator: Emulator, namespace: str
) -> None:
    """The PermissionDenied and InvalidSpec messages on the page are word for word what the operator writes
    (the page's jobs run in project my-project, as these do)."""
    custom = k8s.CustomObjectsApi(api_client)
    event_line = _quoted(TROUBLESHOOTING, "Warning  PermissionDenied")
    permission_message = event_line.split("  vertexops  ", 1)[1]
    invalid_message = _quoted(TROUBLESHOOTING, "INVALID_ARGUMENT")

    docs_emulator.add_fault("permission_denied", "tuningJobs.create")
    refused = _tuning_job("no-rights")
    refused["spec"]["projectID"] = "my-project"
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tuningjobs", refused)
    # The operator tries a refused create again from time to time, so the conditions are read from the one
    # snapshot in which it reported the refusal.
    snapshot: dict[str, Any] = {}

    def stalled_seen() -> bool:
        snapshot.update(_get(custom, namespace, "no-rights") or {})
        return _condition(snapshot, "Stalled").get("status") == "True"

    _wait("Stalled=True PermissionDenied", stalled_seen, detail=readme_operator.log_tail)
    stalled = _condition(snapshot, "Stalled")
    assert (stalled["reason"], stalled["message"]) == ("PermissionDenied", permission_message)
    refused_row = next(r for r in docgen.CONDITION_STATES if r[0].startswith("refused by Google"))
    observed = tuple(_condition(snapshot, t)["status"] for t in ("Ready", "Reconciling", "Stalled", "Synced"))
    assert observed == refused_row[1:], "docs/conditions.md describes this situation differently"
    docs_emulator.clear_faults()

    rejected = _tuning_job("bad-adapter")
    rejected["spec"]["projectID"] = "my-project"
    rejected["spec"]["supervisedTuningSpec"]["hyperParameters"] = {"adapterSize": "ADAPTER_SIZE_THIRTY_TWO"}
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "tuningjobs", rejected)
    seen: list[dict[str, Any]] = []

    def invalid_spec_reported() -> bool:
        conditions = [_condition(_get(custom, namespace, "bad-adapter"), t) for t in ("Stalled", "Synced")]
        seen[:] = conditions
        return any(c.get("reason") == "InvalidSpec" for c in conditions)

    _wait("reason InvalidSpec", invalid_spec_reported, detail=lambda: str(seen))
    assert invalid_message in {c.get("message") for c in seen}


def test_troubleshooting_quotes_the_api_servers_immutability_message(
    crds: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    quoted = _quoted(TROUBLESHOOTING, "is immutable")
    sample = yaml.safe_load((ROOT / "controller" / "samples" / "tuningjob.yaml").read_text())
    crds.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(sample))
    sample["spec"]["baseModel"] = "gemini-2.5-pro"
    sample["spec"]["supervisedTuningSpec"]["hyperParameters"]["epochCount"] = 4
    result = crds.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(sample), check=False)
    assert result.returncode != 0
    got = [line.rstrip() for line in result.stderr.strip().splitlines()]
    expected = quoted.splitlines()
    # The API server lists the rejected fields in no fixed order.
    assert got[0] == expected[0]
    assert sorted(got[1:]) == sorted(expected[1:])
