"""Every command in the README runs somewhere: in a named test, in CI, or here.

`COVERAGE` maps each README command (exactly as written, continuation lines joined) to what exercises it. A
README command missing from the table fails, and so does a table entry the README no longer has, so the two
cannot drift apart. The commands that are cheap enough run here against the session's control plane: Helm
install, the kubectl bundle, the CRDs, the generators, and the whole "Your first TuningJob" walk-through with
the operator and the emulator, whose output is compared with what the README shows.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from readme_commands import README, ROOT, blocks_of, shell_commands

from controller import config as operator_config
from controller import docgen, manager_cli
from controller.testenv.controlplane import ControlPlane
from controller.testenv.operator import OperatorProcess

HERE = "tests/docs/test_readme.py"
DEV_TEST = "tests/dev/test_vertexops_dev.py"
NODE = "tests/node"
CONSOLE_TEST = "tests/console/test_readme_console.py::test_readme_session_output_is_what_the_command_prints"

HELM_INSTALL = (
    "helm install vertexops charts/vertexops -n vertexops-system --create-namespace "
    "--set google.project=my-project --set google.location=us-central1 "
    "--set 'serviceAccount.annotations.iam\\.gke\\.io/gcp-service-account="
    "vertexops@my-project.iam.gserviceaccount.com'"
)
HELM_TEMPLATE = (
    "helm template vertexops charts/vertexops -n vertexops-system --include-crds "
    "--set google.project=my-project > vertexops.yaml"
)
VERTEXOPS_RUN = (
    ".venv/bin/vertexops run --kubeconfig ~/.kube/config --project my-project --location us-central1 "
    "--namespaces ml-team --leader-election=false --log-format=text"
)

# README command -> what runs it: "<test file>::<test function>", or ".ci/run" (CI runs tools/test.sh).
COVERAGE: dict[str, str] = {
    "tools/dev.sh": f"{DEV_TEST}::test_dev_brings_the_sample_to_ready_prints_the_endpoint_and_cleans_up",
    "tools/dev.sh --fail": f"{DEV_TEST}::test_dev_with_an_injected_failure_reports_the_stalled_job",
    HELM_INSTALL: f"{HERE}::test_helm_install_installs_the_operator_with_workload_identity",
    "kubectl apply --server-side -f manifests/install.yaml": f"{HERE}::test_install_bundle_applies",
    HELM_TEMPLATE: f"{HERE}::test_helm_template_renders_a_bundle_with_the_project",
    "kubectl apply --server-side -f crds/": f"{HERE}::test_first_tuning_job_walkthrough",
    VERTEXOPS_RUN: f"{HERE}::test_vertexops_run_command_line_is_valid",
    "kubectl apply -f tuningjob.yaml": f"{HERE}::test_first_tuning_job_walkthrough",
    "kubectl wait --for=condition=Ready tuningjob/support-assistant --timeout=6h": (
        f"{HERE}::test_first_tuning_job_walkthrough"
    ),
    "kubectl get tj": f"{HERE}::test_first_tuning_job_walkthrough",
    "kubectl get configmap support-assistant-model -o jsonpath='{.data.endpoint}'": (
        f"{HERE}::test_first_tuning_job_walkthrough"
    ),
    "kubectl get tj support-assistant -o yaml": f"{HERE}::test_first_tuning_job_walkthrough",
    "tools/test.sh": ".ci/run",
    "tools/install-node-tools.sh": f"{NODE}/test_node_harness.py::test_a_pod_runs_and_stop_undoes_everything",
    "tools/build-image.sh": f"{NODE}/test_image.py::test_tagged_with_the_charts_repository_and_app_version",
    ".venv/bin/vertexops dev --node": f"{NODE}/test_dev_node.py::test_dev_node_runs_the_samples_as_pods",
    '.venv/bin/vertexops prompt tj/support-assistant -n vertexops-demo "How do I reset my password?"': (
        CONSOLE_TEST
    ),
    ".venv/bin/vertexops prompt tm/product-one-liners -n vertexops-demo": CONSOLE_TEST,
    ".venv/bin/vertexops watch tj/support-assistant -n vertexops-demo --once": CONSOLE_TEST,
    ".venv/bin/vertexops compare tj/support-assistant -n vertexops-demo": CONSOLE_TEST,
    'kubectl vertexops prompt tj/support-assistant -n vertexops-demo "Where is my parcel?"': CONSOLE_TEST,
    ".venv/bin/vertexops crds": f"{HERE}::test_generators_write_what_is_committed",
    ".venv/bin/vertexops docs": f"{HERE}::test_generators_write_what_is_committed",
    ".venv/bin/python tools/check-generated.py": f"{HERE}::test_check_generated_passes",
}


def _readme() -> str:
    return README.read_text(encoding="utf-8")


# -- the table -----------------------------------------------------------------------------------------------


def test_every_readme_command_is_covered_and_every_table_entry_is_in_the_readme() -> None:
    commands = set(shell_commands(_readme()))
    assert commands, "no shell commands found in README.md: is the code-block parser broken?"
    uncovered = sorted(commands - set(COVERAGE))
    assert not uncovered, (
        f"README commands that no test or CI step runs (add each to COVERAGE in {HERE}): {uncovered}"
    )
    stale = sorted(set(COVERAGE) - commands)
    assert not stale, f"COVERAGE names commands the README no longer has (remove them): {stale}"


@pytest.mark.parametrize("command", sorted(COVERAGE))
def test_coverage_target_exists(command: str) -> None:
    target = COVERAGE[command]
    if target == ".ci/run":
        ci = (ROOT / ".ci" / "run").read_text()
        script = command.split(maxsplit=1)[0]
        assert re.search(rf"^\s*(exec\s+)?(bash\s+)?{re.escape(script)}\b", ci, re.MULTILINE), (
            f".ci/run does not run {script}"
        )
        return
    path, _, function = target.partition("::")
    source = (ROOT / path).read_text()
    assert re.search(rf"^def {re.escape(function)}\(", source, re.MULTILINE), (
        f"{command!r} is mapped to {target}, which does not exist"
    )


def test_dev_script_runs_vertexops_dev_with_its_arguments() -> None:
    """The dev tests run `vertexops dev`; tools/dev.sh must be that command after installing the tools."""
    script = (ROOT / "tools" / "dev.sh").read_text()
    steps = [line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")]
    assert "bash tools/install-tools.sh" in steps
    assert "bash tools/bootstrap-python.sh" in steps
    assert steps[-1] == 'exec .venv/bin/vertexops dev "$@"'
    help_text = subprocess.run(
        [sys.executable, "-m", "controller.cli", "dev", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "--fail" in help_text


# -- running the commands ------------------------------------------------------------------------------------


def _argv(command: str, control_plane: ControlPlane | None) -> tuple[list[str], str | None]:
    """The argv of a README command with our binaries and kubeconfig, and the file of a `> file` redirect."""
    # The shell expands `~` before the program sees it.
    words = [str(Path(w).expanduser()) if w.startswith("~/") else w for w in shlex.split(command)]
    output = None
    if len(words) > 2 and words[-2] == ">":
        output, words = words[-1], words[:-2]
    tool, *rest = words
    if tool.startswith(".venv/bin/"):
        tool = str(Path(sys.executable).parent / tool.removeprefix(".venv/bin/"))
    elif tool in ("kubectl", "helm") and control_plane is not None:
        binary = control_plane.tools.kubectl if tool == "kubectl" else control_plane.tools.helm
        return [str(binary), f"--kubeconfig={control_plane.kubeconfig}", *rest], output
    return [tool, *rest], output


def _run(
    command: str,
    control_plane: ControlPlane | None = None,
    *,
    cwd: Path = ROOT,
    extra: tuple[str, ...] = (),
    timeout: float = 300,
    output_dir: Path | None = None,
) -> str:
    """Run a README command from the repository root (or `cwd`); a `> file` redirect lands in `output_dir`."""
    argv, output = _argv(command, control_plane)
    result = subprocess.run(
        [*argv, *extra],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"`{command}` failed ({result.returncode}):\n{result.stderr}"
    if output:
        ((output_dir or cwd) / output).write_text(result.stdout)
    return result.stdout


def test_generators_write_what_is_committed(tmp_path: Path) -> None:
    """`vertexops crds` and `vertexops docs`, pointed at a scratch folder, write the committed files."""
    _run(".venv/bin/vertexops crds", extra=("--output-dir", str(tmp_path / "crds")))
    written = sorted(p.name for p in (tmp_path / "crds").iterdir())
    assert written == sorted(p.name for p in (ROOT / "crds").glob("*.yaml"))
    for name in written:
        assert (tmp_path / "crds" / name).read_text() == (ROOT / "crds" / name).read_text(), name
    _run(".venv/bin/vertexops docs", extra=("--output-dir", str(tmp_path / "docs")))
    pages = sorted(str(p.relative_to(tmp_path / "docs")) for p in (tmp_path / "docs").rglob("*.md"))
    assert pages == [
        "conditions.md",
        "configuration.md",
        "reference/tunedmodel.md",
        "reference/tuningjob.md",
        "reference/tuningtenant.md",
    ]
    for page in pages:
        assert (tmp_path / "docs" / page).read_text() == (ROOT / "docs" / page).read_text(), page


def test_check_generated_passes() -> None:
    _run(".venv/bin/python tools/check-generated.py", timeout=300)


def test_vertexops_run_command_line_is_valid() -> None:
    """The README's `vertexops run` parses with the operator's own parser into the configuration it names.

    It cannot start here (it needs Google credentials); the end-to-end tests run the same subcommand."""
    argv, _ = _argv(VERTEXOPS_RUN, None)
    assert argv[1] == "run"
    parser = argparse.ArgumentParser()
    manager_cli.add_arguments(parser)
    args = parser.parse_args(argv[2:])
    cfg = operator_config.from_args(args, environ={})
    assert cfg.kubeconfig == str(Path.home() / ".kube" / "config")
    assert cfg.vertex.default_project == "my-project"
    assert cfg.vertex.default_location == "us-central1"
    assert cfg.runtime.namespaces == ("ml-team",)
    assert cfg.runtime.leader_election is False
    assert cfg.runtime.log_format == "text"
    assert cfg.vertex_base_url is None, "the README's command must talk to Google, not to an emulator"


def test_helm_template_renders_a_bundle_with_the_project(control_plane: ControlPlane, tmp_path: Path) -> None:
    _run(HELM_TEMPLATE, control_plane, output_dir=tmp_path)
    documents = [d for d in yaml.safe_load_all((tmp_path / "vertexops.yaml").read_text()) if d]
    kinds = {d["kind"] for d in documents}
    assert {"CustomResourceDefinition", "Deployment", "ServiceAccount"} <= kinds
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VERTEXOPS_PROJECT"] == "my-project"


def test_install_bundle_applies(control_plane: ControlPlane, api_client: k8s.ApiClient) -> None:
    """The kubectl bundle passes the API server's validation (server-side dry run, nothing is kept).

    A dry run does not create the bundle's Namespace, so it is made first, as the real apply would."""
    core = k8s.CoreV1Api(api_client)
    try:
        core.create_namespace({"metadata": {"name": "vertexops-system"}})
    except k8s.ApiException as err:
        if err.status != 409:
            raise
    out = _run(
        "kubectl apply --server-side -f manifests/install.yaml",
        control_plane,
        extra=("--dry-run=server",),
    )
    assert "deployment.apps/vertexops serverside-applied (server dry run)" in out
    assert "customresourcedefinition.apiextensions.k8s.io/tuningjobs.tuning.vertexops.dev" in out


def test_helm_install_installs_the_operator_with_workload_identity(
    control_plane: ControlPlane, api_client: k8s.ApiClient
) -> None:
    _run(HELM_INSTALL, control_plane)
    try:
        apps, core = k8s.AppsV1Api(api_client), k8s.CoreV1Api(api_client)
        deployment = apps.read_namespaced_deployment("vertexops", "vertexops-system")
        env = {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}
        assert env["VERTEXOPS_PROJECT"] == "my-project"
        assert env["VERTEXOPS_LOCATION"] == "us-central1"
        account = core.read_namespaced_service_account(
            deployment.spec.template.spec.service_account_name, "vertexops-system"
        )
        assert account.metadata.annotations["iam.gke.io/gcp-service-account"] == (
            "vertexops@my-project.iam.gserviceaccount.com"
        )
        crds = k8s.ApiextensionsV1Api(api_client).list_custom_resource_definition().items
        assert {"tuningjobs.tuning.vertexops.dev", "tunedmodels.tuning.vertexops.dev"} <= {
            c.metadata.name for c in crds
        }
    finally:
        _run("helm uninstall vertexops -n vertexops-system", control_plane)


# -- Your first TuningJob ------------------------------------------------------------------------------------


def _readme_tuning_job() -> dict[str, Any]:
    manifests = [yaml.safe_load(text) for text in blocks_of(_readme(), "yaml")]
    jobs = [m for m in manifests if isinstance(m, dict) and m.get("kind") == "TuningJob"]
    assert len(jobs) == 1, "README.md should show exactly one TuningJob manifest"
    return jobs[0]


def _readme_status() -> dict[str, Any]:
    shown = [yaml.safe_load(text) for text in blocks_of(_readme(), "yaml")]
    statuses = [m["status"] for m in shown if isinstance(m, dict) and set(m) == {"status"}]
    assert len(statuses) == 1, "README.md should show exactly one status block"
    return statuses[0]


def _readme_get_output() -> list[str]:
    for text in blocks_of(_readme(), "text"):
        if text.startswith("NAME "):
            return text.splitlines()
    raise AssertionError("README.md shows no `kubectl get tj` output")


def test_readme_tuning_job_is_the_dev_sample() -> None:
    """The README shows the manifest `tools/dev.sh` applies, comments and all."""
    sample = (ROOT / "controller" / "samples" / "tuningjob.yaml").read_text()
    assert any(text == sample for text in blocks_of(_readme(), "yaml"))
    assert _readme_tuning_job() == yaml.safe_load(sample)


def _conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def _condition_row(status: dict[str, Any]) -> tuple[str, ...]:
    """Ready, Reconciling, Stalled, Synced statuses, as the table in docs/conditions.md lists them."""
    found = _conditions(status)
    return tuple(found[t][0] for t in ("Ready", "Reconciling", "Stalled", "Synced"))


def _documented_row(situation: str) -> tuple[str, ...]:
    row = next(r for r in docgen.CONDITION_STATES if r[0].startswith(situation))
    return tuple(cell.split(" ", 1)[0] for cell in row[1:])


def test_first_tuning_job_walkthrough(
    control_plane: ControlPlane, readme_operator: OperatorProcess, namespace: str, tmp_path: Path
) -> None:
    """The README's commands, in order, with the operator and the emulator: the outputs match the README."""
    ns = ("-n", namespace)
    _run("kubectl apply --server-side -f crds/", control_plane)
    (tmp_path / "tuningjob.yaml").write_text(yaml.safe_dump(_readme_tuning_job()))
    _run("kubectl apply -f tuningjob.yaml", control_plane, cwd=tmp_path, extra=ns)
    # The README waits up to 6 hours for a real job; the emulated one takes seconds.
    wait = "kubectl wait --for=condition=Ready tuningjob/support-assistant --timeout=6h"
    argv, _ = _argv(wait, control_plane)
    argv = [a if a != "--timeout=6h" else "--timeout=180s" for a in argv]
    waited = subprocess.run([*argv, *ns], capture_output=True, text=True, timeout=240, check=False)
    assert waited.returncode == 0, f"not Ready:\n{waited.stderr}\noperator log:\n{readme_operator.log_tail()}"

    got = _run("kubectl get tj", control_plane, extra=ns).splitlines()
    shown = _readme_get_output()
    assert got[0].split() == shown[0].split(), "the columns of `kubectl get tj` differ from the README's"
    name, state, ready, progress = got[1].split()[:4]
    assert [name, state, ready, progress] == shown[1].split()[:4]

    obj = yaml.safe_load(_run("kubectl get tj support-assistant -o yaml", control_plane, extra=ns))
    status, readme_status = obj["status"], _readme_status()
    assert _conditions(status) == _conditions(readme_status)
    assert _condition_row(status) == _documented_row("succeeded")
    assert set(status) == set(readme_status), "status fields differ from the README's example"
    for part in ("latestMetrics", "tunedModel", "tuningDataStats"):
        assert set(status[part]) == set(readme_status[part]), f"status.{part} differs from the README's"
    assert [r["prompt"] for r in status["testPromptResults"]] == [
        r["prompt"] for r in readme_status["testPromptResults"]
    ]

    endpoint = _run(
        "kubectl get configmap support-assistant-model -o jsonpath='{.data.endpoint}'",
        control_plane,
        extra=ns,
    )
    assert endpoint == status["tunedModel"]["endpoint"]
    assert re.fullmatch(r"projects/\d+/locations/us-central1/endpoints/\d+", endpoint)
