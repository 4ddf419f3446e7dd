"""Argo CD 3.6 syncs TuningJobs from a Git repository the test commits to, with the operator and the emulator
behind it, and with the project's health checks installed the way docs/gitops.md tells users to."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from controller.api.resource import GROUP, VERSION
from controller.testenv.argocd import ArgoCD, health, resource_health, sync_status
from controller.testenv.controlplane import ControlPlane
from controller.testenv.engine_tools import ArgoCDTools
from controller.testenv.gitrepo import GitRepo
from controller.testenv.operator import OperatorProcess
from controller.testenv.tools import Tools
from emulator.server import Emulator
from gitops_engines.conftest import OperatorFactory, engine_control_plane, fast_emulator, make_namespace
from gitops_engines.docs_snippets import command_snippet, run_shell, snippet
from gitops_engines.manifests import ROOT, tuning_application, tuning_job

pytestmark = pytest.mark.gitops_engines


@pytest.fixture(scope="module")
def argocd(
    cluster: ControlPlane, argocd_tools: ArgoCDTools, tools: Tools, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArgoCD]:
    argo = ArgoCD(cluster, argocd_tools, tmp_path_factory.mktemp("argocd"), extra_path=(tools.helm3.parent,))
    argo.install_config()
    # The step docs/gitops.md gives users, verbatim, before the controller starts.
    install_health_checks(cluster)
    with argo:
        yield argo


def install_health_checks(cp: ControlPlane) -> None:
    """Run the command docs/gitops.md gives users to install the health checks, as it is written there."""
    args = command_snippet("argocd-health", "kubectl")
    cp.kubectl(*(str(ROOT / a) if (ROOT / a).is_file() else a for a in args))


def apply(cp: ControlPlane, *objects: dict[str, Any]) -> None:
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def get_job(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any] | None:
    with cp.api_client() as api:
        try:
            return k8s.CustomObjectsApi(api).get_namespaced_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, namespace, "tuningjobs", name
            )
        except k8s.ApiException as err:
            if err.status == 404:
                return None
            raise


class SyncHistory:
    """Every sync status the Application showed, in order, so a test can assert on the whole run."""

    def __init__(self) -> None:
        self.statuses: list[tuple[str | None, str | None]] = []

    def __call__(self, app: dict[str, Any]) -> None:
        entry = (sync_status(app), app.get("status", {}).get("sync", {}).get("revision"))
        if not self.statuses or self.statuses[-1] != entry:
            self.statuses.append(entry)

    def since_first_synced(self) -> list[str | None]:
        names = [s for s, _ in self.statuses]
        return names[names.index("Synced") :] if "Synced" in names else []


def synced_at(revision: str) -> Any:
    return lambda app: sync_status(app) == "Synced" and app["status"]["sync"].get("revision") == revision


def test_a_committed_tuning_job_is_synced_progressing_then_healthy_and_never_out_of_sync(
    *,
    cluster: ControlPlane,
    argocd: ArgoCD,
    fleet: GitRepo,
    emulator: Emulator,
    tmp_path: Path,
    start_operator: OperatorFactory,
) -> None:
    namespace = make_namespace(cluster)
    operator = start_operator(cluster, emulator, [namespace])
    fleet.write("tuning/support-bot.yaml", tuning_job("support-bot", publish="support-bot-model"))
    revision = fleet.commit("Tune the support bot")
    app_name = f"tuning-{namespace}"
    apply(cluster, tuning_application(app_name, fleet.url, namespace))
    history = SyncHistory()

    def progressing_with_operator_message(app: dict[str, Any]) -> bool:
        status, message = resource_health(app, "TuningJob", "support-bot")
        return status == "Progressing" and bool(message) and " is running" in (message or "")

    app = argocd.wait_application(
        app_name, progressing_with_operator_message, "Progressing with the job running", observe=history
    )
    assert synced_at(revision)(app), app["status"]["sync"]
    job = get_job(cluster, namespace, "support-bot")
    assert job is not None
    # The message is the operator's own Reconciling message, through the project's health check.
    _, message = resource_health(app, "TuningJob", "support-bot")
    assert (message or "").startswith(f"tuning job {job['status']['name']} is running")
    assert health(app)[0] == "Progressing"

    # docs/gitops.md's kubectl commands, as a user runs them in the namespace: `kubectl wait` returns
    # once the job is Ready, and the listing shows its columns.
    kubeconfig = tmp_path / "user.kubeconfig"
    kubeconfig.write_text(cluster.kubeconfig.read_text())
    cluster.kubectl("config", "set-context", "--current", f"--namespace={namespace}", kubeconfig=kubeconfig)
    listing = run_shell("kubectl-wait", kubeconfig, (cluster.tools.kubectl.parent,)).stdout
    assert "tuningjob.tuning.vertexops.dev/support-bot condition met" in listing, listing
    header = listing.splitlines()[1].split()
    assert header[:6] == ["NAMESPACE", "NAME", "STATE", "SUB-STATE", "READY", "PROGRESS"], listing
    assert "LOSS" in header, listing
    assert f"{namespace} " in listing and "JOB_STATE_SUCCEEDED" in listing, listing

    app = argocd.wait_application(
        app_name, lambda a: resource_health(a, "TuningJob", "support-bot")[0] == "Healthy", "Healthy",
        observe=history,
    )  # fmt: skip
    job = get_job(cluster, namespace, "support-bot")
    assert job is not None
    model = job["status"]["tunedModel"]["model"]
    assert model
    _, message = resource_health(app, "TuningJob", "support-bot")
    assert message == f"tuned model {model} is served at {job['status']['tunedModel']['endpoint']}"
    assert health(app) == ("Healthy", None) or health(app)[0] == "Healthy"

    # The operator has now written status many times, events and the published ConfigMap. Keep watching
    # through several of Argo CD's own resyncs (10 s here) and a hard refresh: it must stay Synced.
    with cluster.api_client() as api:
        published = k8s.CoreV1Api(api).read_namespaced_config_map("support-bot-model", namespace)
    assert published.data["model"] == model
    argocd.refresh(app_name)
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        app = argocd.wait_application(app_name, lambda _a: True, "readable", observe=history)
        time.sleep(0.5)
    assert synced_at(revision)(app)
    assert history.since_first_synced(), history.statuses
    assert set(history.since_first_synced()) == {"Synced"}, history.statuses
    # The published ConfigMap belongs to the TuningJob, not to the Application: Argo CD neither tracks
    # nor prunes it.
    tracked = {(r["kind"], r["name"]) for r in app["status"].get("resources", [])}
    assert tracked == {("TuningJob", "support-bot")}, tracked
    assert operator.running
    assert emulator.count("tuningJobs.create") == 1


def test_a_job_the_emulator_fails_turns_degraded_with_its_message(
    *,
    cluster: ControlPlane,
    argocd: ArgoCD,
    fleet: GitRepo,
    emulator: Emulator,
    tmp_path: Path,
    start_operator: OperatorFactory,
) -> None:
    emulator.fail_jobs(
        display_name="doomed*", at_fraction=0.5, message="Tuning failed: dataset row 7 is invalid."
    )
    namespace = make_namespace(cluster)
    start_operator(cluster, emulator, [namespace])
    fleet.write("tuning/doomed.yaml", tuning_job("doomed-run"))
    revision = fleet.commit("A job that will fail")
    app_name = f"tuning-{namespace}"
    apply(cluster, tuning_application(app_name, fleet.url, namespace))
    history = SyncHistory()

    app = argocd.wait_application(
        app_name, lambda a: resource_health(a, "TuningJob", "doomed-run")[0] == "Degraded", "Degraded",
        observe=history,
    )  # fmt: skip
    _, message = resource_health(app, "TuningJob", "doomed-run")
    assert message is not None and "Tuning failed: dataset row 7 is invalid." in message
    assert health(app)[0] == "Degraded"
    job = get_job(cluster, namespace, "doomed-run")
    assert job is not None and job["status"]["state"] == "JOB_STATE_FAILED"
    assert synced_at(revision)(app)
    assert set(history.since_first_synced()) == {"Synced"}, history.statuses


def test_pruning_the_manifest_from_git_cancels_the_running_job_and_the_finalizer_lets_go(
    *, cluster: ControlPlane, argocd: ArgoCD, fleet: GitRepo, tmp_path: Path, start_operator: OperatorFactory
) -> None:
    # A job long enough to be running when it leaves Git, and a cancel that takes Google 20 s (600 simulated
    # seconds at 30x): long enough to see the finalizer hold the object while the job stops.
    with fast_emulator(total_steps=2000, cancel_seconds=600) as emulator:
        namespace = make_namespace(cluster)
        start_operator(cluster, emulator, [namespace])
        fleet.write("tuning/keep.yaml", tuning_job("keeper", deletionPolicy="Orphan"))
        fleet.write("tuning/drop.yaml", tuning_job("dropped"))
        fleet.commit("Two jobs")
        app_name = f"tuning-{namespace}"
        apply(cluster, tuning_application(app_name, fleet.url, namespace, prune=True))

        def both_running(app: dict[str, Any]) -> bool:
            return all(
                " is running" in (resource_health(app, "TuningJob", n)[1] or "")
                for n in ("keeper", "dropped")
            )

        argocd.wait_application(app_name, both_running, "running both jobs")
        dropped = get_job(cluster, namespace, "dropped")
        assert dropped is not None
        remote = dropped["status"]["name"]

        fleet.remove("tuning/drop.yaml")
        revision = fleet.commit("Stop the dropped job")
        argocd.refresh(app_name)

        # Pruned: the object is being deleted, the operator's finalizer holds it while Google cancels the
        # job, and the Application says so (OutOfSync, the TuningJob pending deletion).
        def pending_deletion(app: dict[str, Any]) -> bool:
            _, message = resource_health(app, "TuningJob", "dropped")
            return sync_status(app) == "OutOfSync" and (message or "").startswith("Pending deletion")

        argocd.wait_application(app_name, pending_deletion, "pruning the dropped job")
        holding = get_job(cluster, namespace, "dropped")
        assert holding is not None and holding["metadata"].get("deletionTimestamp"), holding
        assert "tuning.vertexops.dev/finalizer" in holding["metadata"]["finalizers"], holding["metadata"]

        argocd.wait_application(app_name, synced_at(revision), "Synced at the new revision", timeout=120)
        deadline = time.monotonic() + 60
        while get_job(cluster, namespace, "dropped") is not None:
            assert time.monotonic() < deadline, get_job(cluster, namespace, "dropped")
            time.sleep(0.3)
        cancels = [r for r in emulator.requests("tuningJobs.cancel") if remote in r.path]
        assert len(cancels) == 1, emulator.requests("tuningJobs.cancel")
        _, project, _, location, _, job_id = remote.split("/")
        # The finalizer let go only once the job had stopped.
        assert emulator.state.vertex.get(project, location, job_id)["state"] == "JOB_STATE_CANCELLED"
        keeper = get_job(cluster, namespace, "keeper")
        assert keeper is not None and keeper["metadata"].get("deletionTimestamp") is None
        assert not [r for r in emulator.requests("tuningJobs.cancel") if keeper["status"]["name"] in r.path]


def test_the_crds_and_a_tuning_job_in_one_sync_succeed_on_an_empty_cluster(
    *,
    tools: Tools,
    argocd_tools: ArgoCDTools,
    gc_binary: Path,
    tmp_path: Path,
    start_operator: OperatorFactory,
) -> None:
    """A first sync: nothing of vertexops exists yet; the CRDs and the job come in one Application."""
    from gitops_engines.conftest import PROJECT_CRDS

    with fast_emulator() as emulator, engine_control_plane(tools, gc_binary) as cp:
        fleet = GitRepo(tmp_path / "git" / "fleet")
        for crd in PROJECT_CRDS:
            fleet.copy_in(crd, f"tuning/crds/{crd.name}")
        fleet.write("tuning/support-bot.yaml", tuning_job("first-sync"))
        revision = fleet.commit("CRDs and a first job")
        namespace = f"ml-{uuid.uuid4().hex[:6]}"
        app = tuning_application("ml-tuning", fleet.url, namespace)
        app["spec"]["source"]["directory"] = {"recurse": True}
        argo = ArgoCD(cp, argocd_tools, tmp_path / "argocd", extra_path=(tools.helm3.parent,))
        argo.install_config()
        # This time the other way docs/gitops.md gives: argocd-cm managed by the user, with the keys added.
        cp.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=snippet("argocd-cm"))
        with argo:
            apply(cp, app)
            argo.wait_application("ml-tuning", synced_at(revision), "Synced", timeout=120)
            start_operator(cp, emulator, [namespace])
            done = argo.wait_application(
                "ml-tuning",
                lambda a: resource_health(a, "TuningJob", "first-sync")[0] == "Healthy",
                "Healthy",
                timeout=120,
            )
            phase = done["status"].get("operationState", {}).get("phase")
            assert phase == "Succeeded", done["status"].get("operationState")
            assert emulator.count("tuningJobs.create") == 1


def test_a_cluster_rebuilt_from_git_syncs_everything_back_and_creates_no_paid_job_again(
    *,
    tools: Tools,
    argocd_tools: ArgoCDTools,
    gc_binary: Path,
    tmp_path: Path,
    start_operator: OperatorFactory,
) -> None:
    """A fresh control plane, the same Git repository, the same Google project (the emulator): Argo CD
    syncs the TuningJobs back, and the operator adopts the jobs already paid for instead of creating them
    again, the finished one and the one still running alike."""
    fleet = GitRepo(tmp_path / "git" / "fleet")
    fleet.write("tuning/finished.yaml", tuning_job("finished-run"))
    fleet.commit("A first job")
    namespace = "ml-team"

    def cluster_from_git(cp: ControlPlane, emulator: Emulator, name: str) -> tuple[ArgoCD, OperatorProcess]:
        from controller.testenv.engine_process import apply_crds
        from gitops_engines.conftest import PROJECT_CRDS

        apply_crds(cp, PROJECT_CRDS)
        make_namespace(cp, namespace)
        argo = ArgoCD(cp, argocd_tools, tmp_path / f"argocd-{name}", extra_path=(tools.helm3.parent,))
        argo.install_config()
        install_health_checks(cp)
        argo.start()
        operator = start_operator(cp, emulator, [namespace])
        apply(cp, tuning_application("ml-tuning", fleet.url, namespace))
        return argo, operator

    def healthy(app: dict[str, Any], name: str) -> bool:
        return resource_health(app, "TuningJob", name)[0] == "Healthy"

    def running(app: dict[str, Any], name: str) -> bool:
        return " is running" in (resource_health(app, "TuningJob", name)[1] or "")

    with fast_emulator(total_steps=400) as emulator:
        with engine_control_plane(tools, gc_binary) as first:
            argo, operator = cluster_from_git(first, emulator, "first")
            try:
                emulator.set_time_scale(2000)  # let the first job finish quickly ...
                argo.wait_application(
                    "ml-tuning", lambda a: healthy(a, "finished-run"), "Healthy", timeout=120
                )
                emulator.set_time_scale(30)  # ... and keep the second one running through the rebuild
                fleet.write("tuning/running.yaml", tuning_job("running-run"))
                revision = fleet.commit("A second job")
                argo.refresh("ml-tuning")
                argo.wait_application(
                    "ml-tuning", lambda a: running(a, "running-run"), "running", timeout=120
                )
                assert synced_at(revision)(argo.application("ml-tuning") or {})
                # Real time from here: the job is still running when the cluster is rebuilt.
                emulator.set_time_scale(1)
                running_job = get_job(first, namespace, "running-run")
                assert running_job is not None
                remote = running_job["status"]["name"]
            finally:
                operator.stop()
                argo.stop()
        # The old cluster is gone, its operator and Argo CD with it; the job it paid for runs on.
        assert emulator.count("tuningJobs.create") == 2
        creates_before = emulator.count("tuningJobs.create")
        _, project, _, location, _, job_id = remote.split("/")
        assert emulator.state.vertex.get(project, location, job_id)["state"] == "JOB_STATE_RUNNING"

        with engine_control_plane(tools, gc_binary) as second:
            argo, operator = cluster_from_git(second, emulator, "second")
            try:
                # The rebuilt cluster follows the job that is still running: the same one, not a new one.
                argo.wait_application(
                    "ml-tuning", lambda a: running(a, "running-run"), "running again", timeout=180
                )
                adopted = get_job(second, namespace, "running-run")
                assert adopted is not None and adopted["status"]["name"] == remote, adopted
                emulator.set_time_scale(2000)
                app = argo.wait_application(
                    "ml-tuning",
                    lambda a: (
                        synced_at(revision)(a) and healthy(a, "finished-run") and healthy(a, "running-run")
                    ),
                    "Synced with both jobs Healthy",
                    timeout=180,
                )
            finally:
                operator.stop()
                argo.stop()
        assert app["status"]["sync"]["status"] == "Synced"
        assert emulator.count("tuningJobs.create") == creates_before, [
            r.path for r in emulator.requests("tuningJobs.create")
        ]
