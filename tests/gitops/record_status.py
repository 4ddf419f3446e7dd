"""Record TuningJobs and TunedModels as the operator leaves them, for the Argo CD and kstatus tests.

Run it when the operator's status changes shape: `.venv/bin/python tests/gitops/record_status.py`. It starts
a local control plane and the emulator, runs the operator as a process under its ServiceAccount (as the
end-to-end tests do), walks TuningJobs and TunedModels through pending, running, a transient API error,
success, an unobserved spec change, not yet observed at all, failure and a refused create or missing
Secret, and writes each object as the API server returned it (managedFields left out) to
manifests/argocd/health/tuning.vertexops.dev/KIND/testdata/.

The health checks are then tested on what the operator writes, not on what someone believes it writes.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from e2e.support import Resources, condition, is_true, tuned_model, tuning_job  # noqa: E402

from controller.crdgen import install_crds  # noqa: E402
from controller.testenv.controlplane import ControlPlane  # noqa: E402
from controller.testenv.operator import OperatorProcess, grant_operator_rights  # noqa: E402
from emulator.config import EmulatorConfig  # noqa: E402
from emulator.server import Emulator  # noqa: E402

HEALTH = ROOT / "manifests" / "argocd" / "health" / "tuning.vertexops.dev"
MODELS = "tunedmodels"
NAMESPACE = "ml-team"
OPERATOR_ARGS = (
    "--poll-min-seconds=0.3",
    "--poll-max-seconds=1",
    "--metrics-interval-seconds=0.3",
    "--create-grace-seconds=3",
)
HEADER = (
    "# Recorded by tests/gitops/record_status.py: the operator ran against the emulator on a local API\n"
    "# server and this is the object the API server returned (metadata.managedFields left out). Do not\n"
    "# edit; record again instead.\n"
    "# {what}\n"
)
# Simulated seconds: a job waits PENDING_SECONDS, then runs TOTAL_STEPS of STEP_SECONDS each; a tuned
# model runs GEMINI_STEPS of GEMINI_STEP_SECONDS.
PENDING_SECONDS, STEP_SECONDS, TOTAL_STEPS = 60, 5, 20
GEMINI_STEP_SECONDS, GEMINI_STEPS = 2, 8


def save(obj: dict[str, Any], name: str, what: str) -> None:
    obj = dict(obj)
    obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
    path = HEALTH / obj["kind"] / "testdata" / f"{name}.yaml"
    path.write_text(HEADER.format(what=what) + yaml.safe_dump(obj, sort_keys=False))
    print(f"recorded {path.relative_to(ROOT)}")


def wait(
    resources: Resources,
    name: str,
    what: str,
    predicate: Callable[[dict[str, Any]], bool],
    plural: str = "tuningjobs",
) -> dict[str, Any]:
    return resources.wait_for(name, predicate, timeout=90, what=what, plural=plural)


def state_is(state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: (obj.get("status") or {}).get("state") == state


def condition_is(type_: str, status: str) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        found = condition(obj, type_)
        return found is not None and found["status"] == status

    return check


def observed(obj: dict[str, Any]) -> bool:
    return (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]


def record(cp: ControlPlane, emulator: Emulator, workdir: Path) -> None:
    install_crds(cp.kubectl)
    kubeconfig = grant_operator_rights(cp)
    with cp.api_client() as api:
        k8s.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
        resources = Resources(api, NAMESPACE)

        def operator(n: int) -> OperatorProcess:
            return OperatorProcess(
                kubeconfig,
                emulator.url,
                workdir / f"operator-{n}.log",
                namespaces=[NAMESPACE],
                extra_args=OPERATOR_ARGS,
            ).start()

        proc = operator(0)
        try:
            record_runs(resources, emulator, operator, proc)
        except BaseException:
            print(_running[-1].log_tail(60), file=sys.stderr)
            raise
        finally:
            # record_runs replaces the process when it restarts the operator; stop whichever runs
            for current in _running:
                current.stop()


_running: list[OperatorProcess] = []


def record_runs(
    resources: Resources,
    emulator: Emulator,
    operator: Callable[[int], OperatorProcess],
    proc: OperatorProcess,
) -> None:
    _running.append(proc)
    resources.create(tuning_job("support-bot"))
    obj = wait(resources, "support-bot", "pending", state_is("JOB_STATE_PENDING"))
    save(obj, "progressing-pending", "A job Vertex AI accepted and has not started: Progressing.")

    emulator.advance(PENDING_SECONDS + 6 * STEP_SECONDS)
    obj = wait(
        resources,
        "support-bot",
        "running with metrics",
        lambda o: state_is("JOB_STATE_RUNNING")(o) and bool(o["status"].get("latestMetrics")),
    )
    save(obj, "progressing-running", "A running job with its latest training metrics: Progressing.")

    fault = emulator.add_fault("status", "tuningJobs.*", status=503)
    obj = wait(resources, "support-bot", "Synced=False", condition_is("Synced", "False"))
    save(
        obj,
        "progressing-api-error",
        "A running job while Vertex AI answers 503: a transient error, still Progressing.",
    )
    emulator.remove_fault(fault.id)

    emulator.advance(TOTAL_STEPS * STEP_SECONDS)
    obj = wait(resources, "support-bot", "Ready", lambda o: is_true(o, "Ready"))
    save(obj, "healthy-succeeded", "A succeeded job whose tuned model is ready: Healthy.")

    resources.create(tuned_model("number-generator"), MODELS)
    wait(resources, "number-generator", "CREATING", state_is("CREATING"), MODELS)
    emulator.advance(3 * GEMINI_STEP_SECONDS)
    obj = wait(
        resources,
        "number-generator",
        "steps and snapshots",
        lambda o: bool(o["status"].get("completedSteps")) and bool(o["status"].get("snapshots")),
        MODELS,
    )
    save(obj, "progressing-creating", "A model the Gemini API is tuning: Progressing.")
    emulator.advance(GEMINI_STEPS * GEMINI_STEP_SECONDS)
    obj = wait(resources, "number-generator", "Ready", lambda o: is_true(o, "Ready"), MODELS)
    save(obj, "healthy-active", "An active tuned model: Healthy.")

    proc.stop()  # the next spec changes stay unobserved
    resources.patch("support-bot", {"spec": {"deletionPolicy": "Orphan"}})
    obj = resources.get("support-bot")
    assert obj is not None and not observed(obj)
    save(
        obj,
        "progressing-new-generation",
        "A succeeded job after a spec change the operator has not seen yet: Progressing.",
    )
    resources.patch("number-generator", {"spec": {"displayName": "Number generator v2"}}, MODELS)
    obj = resources.get("number-generator", MODELS)
    assert obj is not None and not observed(obj)
    save(
        obj,
        "progressing-new-generation",
        "An active model after a displayName change the operator has not seen yet: Progressing.",
    )
    for plural, manifest in (
        ("tuningjobs", tuning_job("just-applied")),
        (MODELS, tuned_model("just-applied")),
    ):
        resources.create(manifest, plural)
        obj = resources.get("just-applied", plural)
        # The status the CRD defaults every new object to, until the operator writes one.
        assert obj is not None and obj.get("status") == {"observedGeneration": 0}, obj
        save(
            obj,
            "progressing-not-observed",
            "Just applied, before the operator wrote status (the CRD's default status): Progressing.",
        )
    proc = operator(1)
    _running.append(proc)
    wait(resources, "support-bot", "new generation observed", observed)
    wait(resources, "number-generator", "new generation observed", observed, MODELS)

    emulator.fail_jobs(
        display_name="doomed*",
        at_fraction=0.5,
        message="Tuning failed: row 7 of the training data has no model turn.",
    )
    resources.create(tuning_job("doomed-run"))
    resources.create(tuned_model("doomed-model"), MODELS)
    wait(resources, "doomed-run", "pending", state_is("JOB_STATE_PENDING"))
    wait(resources, "doomed-model", "CREATING", state_is("CREATING"), MODELS)
    emulator.advance(PENDING_SECONDS + TOTAL_STEPS * STEP_SECONDS)
    wait(resources, "doomed-run", "failed", state_is("JOB_STATE_FAILED"))
    obj = wait(resources, "doomed-run", "Stalled", condition_is("Stalled", "True"))
    save(obj, "degraded-failed", "A failed job: Degraded, with Vertex AI's error as the message.")
    obj = wait(resources, "doomed-model", "Stalled", condition_is("Stalled", "True"), MODELS)
    save(obj, "degraded-failed", "A model whose tuning failed: Degraded, with the error as the message.")

    emulator.add_fault("permission_denied", "tuningJobs.create")
    resources.create(tuning_job("no-permission"))
    obj = wait(resources, "no-permission", "Stalled", condition_is("Stalled", "True"))
    save(
        obj,
        "degraded-permission-denied",
        "A job Vertex AI refused to create for lack of a permission: Degraded.",
    )

    resources.create(tuned_model("keyless", apiKeySecretRef={"name": "gemini-api-key", "key": "key"}), MODELS)
    obj = wait(resources, "keyless", "Stalled", condition_is("Stalled", "True"), MODELS)
    save(obj, "degraded-secret-not-found", "A model whose API key Secret does not exist: Degraded.")


def main() -> int:
    for old in HEALTH.glob("*/testdata/*.yaml"):
        old.unlink()
    config = EmulatorConfig(
        time_scale=1,
        pending_seconds=PENDING_SECONDS,
        step_seconds=STEP_SECONDS,
        total_steps=TOTAL_STEPS,
        cancel_seconds=10,
        gemini_step_seconds=GEMINI_STEP_SECONDS,
        gemini_total_steps=GEMINI_STEPS,
    )
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="vertexops-record-") as workdir,
        ControlPlane() as cp,
        Emulator(config) as emulator,
    ):
        record(cp, emulator, Path(workdir))
    print(f"done in {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
