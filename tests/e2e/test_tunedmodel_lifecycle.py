"""A TunedModel's whole life on a real API server, the operator in its own process, the emulator as the
Gemini API.

Tune with progress in status, update in place (and undo drift), delete by policy, adopt after a crash, and
wait for a missing Secret or ConfigMap.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs

import pytest

from controller.api.tunedmodel import TunedModel
from controller.external import intent_time
from controller.google.errors import NotFoundError
from controller.google.gemini import GeminiClient
from controller.google.models_gemini import GeminiTunedModel
from controller.testenv.controlplane import ControlPlane
from controller.testenv.google_credentials import inspector_auth
from e2e.conftest import OperatorFactory
from e2e.support import Resources, condition, is_true, tuned_model, wait_until_fired
from emulator.server import Emulator

PLURAL = "tunedmodels"


def _remote(emulator: Emulator, name: str) -> GeminiTunedModel | None:
    with GeminiClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        try:
            return client.get_tuned_model(name)
        except NotFoundError:
            return None


def _ready(resources: Resources, name: str, timeout: float = 90) -> dict[str, object]:
    return resources.wait_for(
        name, lambda o: is_true(o, "Ready"), timeout=timeout, plural=PLURAL, what="Ready"
    )


def _update_masks(emulator: Emulator) -> list[str]:
    return [
        ",".join(parse_qs(r.query).get("updateMask", [""])) for r in emulator.requests("tunedModels.patch")
    ]


def test_tuned_model_goes_to_ready_with_progress_and_snapshots_seen_on_the_way(
    crds: ControlPlane,
    namespace: str,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    emulator.set_time_scale(2)  # 8 steps of 2 simulated seconds: about 8 s of real time
    operator = start_operator()
    manifest = tuned_model(
        "number-doubler",
        description="Doubles numbers.",
        temperature=0.4,
        testPrompts=[{"prompt": "21 + 21"}, {"prompt": "5 + 5", "generationConfig": {"temperature": 0.1}}],
    )
    resources.create(manifest, PLURAL)

    # Watch status while the model is being tuned: the steps grow and snapshots appear before ACTIVE.
    seen_steps: list[int] = []
    snapshots_before_active = 0
    deadline = time.monotonic() + 90
    while True:
        obj = resources.get("number-doubler", PLURAL) or {}
        status = obj.get("status") or {}
        if status.get("state") == "ACTIVE":
            break
        if status.get("state") == "CREATING":
            seen_steps.append(int(status.get("completedSteps") or 0))
            snapshots_before_active = max(snapshots_before_active, len(status.get("snapshots") or []))
            assert condition(obj, "Reconciling")["status"] == "True"  # type: ignore[index]
            assert condition(obj, "Ready")["reason"] == "ModelCreating"  # type: ignore[index]
        assert time.monotonic() < deadline, f"never ACTIVE; last status: {status}"
        time.sleep(0.2)
    running_steps = sorted(set(seen_steps))
    assert len(running_steps) >= 3 and running_steps[-1] > running_steps[0], running_steps
    assert snapshots_before_active > 0

    waited = crds.kubectl(
        "wait",
        "--for=condition=Ready",
        "tunedmodel/number-doubler",
        "-n",
        namespace,
        "--timeout=90s",
        check=False,
    )
    assert waited.returncode == 0, waited.stderr
    obj = _ready(resources, "number-doubler")
    status = obj["status"]
    assert isinstance(status, dict)
    assert status["name"] == "tunedModels/number-doubler"
    assert status["state"] == "ACTIVE"
    assert status["operation"].startswith("tunedModels/number-doubler/operations/")
    assert status["totalSteps"] == 8 and status["completedSteps"] == 8
    assert status["completedPercent"] == 100
    assert 0 < len(status["snapshots"]) <= 10
    assert [s["step"] for s in status["snapshots"]] == sorted(s["step"] for s in status["snapshots"])
    assert all(s["meanLoss"] > 0 for s in status["snapshots"])
    assert status["createTime"] and status["completeTime"]
    assert "error" not in status
    assert [r["prompt"] for r in status["testPromptResults"]] == ["21 + 21", "5 + 5"]
    assert all(r.get("responseText") and not r.get("error") for r in status["testPromptResults"])
    # The newest snapshot's loss is exported per resource.
    loss_line = (
        f'vertexops_tuning_train_loss{{kind="TunedModel",name="number-doubler",namespace="{namespace}"}}'
    )
    exported = [line for line in operator.metrics().splitlines() if line.startswith(loss_line)]
    assert exported and float(exported[0].rsplit(" ", 1)[1]) == status["snapshots"][-1]["meanLoss"]
    for type_, expected in (
        ("Ready", "True"),
        ("Reconciling", "False"),
        ("Stalled", "False"),
        ("Synced", "True"),
    ):
        found = condition(obj, type_)
        assert found is not None and found["status"] == expected, (type_, found)
    assert condition(obj, "Ready")["reason"] == "ModelActive"  # type: ignore[index]
    TunedModel.model_validate(obj)  # the status fits our own schema

    remote = _remote(emulator, "tunedModels/number-doubler")
    assert remote is not None and remote.description == "Doubles numbers." and remote.temperature == 0.4
    assert emulator.count("tunedModels.create") == 1
    assert emulator.count("tunedModels.generateContent") == 2
    assert emulator.count("tunedModels.patch") == 0, "nothing differed, so nothing is patched"
    reasons = [e["reason"] for e in resources.events("number-doubler")]
    assert "Created" in reasons and "ModelActive" in reasons


def test_a_changed_description_is_patched_with_its_mask_and_drift_is_undone_at_resync(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    start_operator("--resync-seconds=2")
    resources.create(tuned_model("patch-me", description="first words", topK=20), PLURAL)
    _ready(resources, "patch-me")
    assert emulator.count("tunedModels.patch") == 0

    resources.patch("patch-me", {"spec": {"description": "second words"}}, PLURAL)
    deadline = time.monotonic() + 60
    while (
        _remote(emulator, "tunedModels/patch-me") or GeminiTunedModel(name="")
    ).description != "second words":
        assert time.monotonic() < deadline, "the description was never patched"
        time.sleep(0.2)
    # Let a few resyncs pass: the model now matches, so no other patch may follow.
    gets = emulator.count("tunedModels.get")
    deadline = time.monotonic() + 60
    while emulator.count("tunedModels.get") < gets + 3:
        assert time.monotonic() < deadline, "no resync re-read the model"
        time.sleep(0.2)
    assert _update_masks(emulator) == ["description"]
    remote = _remote(emulator, "tunedModels/patch-me")
    assert remote is not None and remote.top_k == 20

    # Someone edits the model outside Kubernetes; the next resync puts the spec's value back.
    with GeminiClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        client.patch_tuned_model("tunedModels/patch-me", {"description": "edited by hand"}, ["description"])
    deadline = time.monotonic() + 60
    while (
        _remote(emulator, "tunedModels/patch-me") or GeminiTunedModel(name="")
    ).description != "second words":
        assert time.monotonic() < deadline, "the drift was never undone"
        time.sleep(0.2)
    assert _update_masks(emulator) == ["description", "description", "description"]
    resources.wait_for_event("patch-me", "Updated")


@pytest.mark.usefixtures("crds")
@pytest.mark.parametrize(("policy", "kept"), [("Delete", False), ("Orphan", True)])
def test_deleting_applies_the_deletion_policy_to_the_remote_model(
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
    policy: str,
    kept: bool,
) -> None:
    start_operator()
    name = f"policy-{policy.lower()}"
    resources.create(tuned_model(name, deletionPolicy=policy), PLURAL)
    _ready(resources, name)

    resources.delete(name, PLURAL)
    resources.wait_gone(name, plural=PLURAL)
    remote = _remote(emulator, f"tunedModels/{name}")
    if kept:
        assert remote is not None and remote.state == "ACTIVE"
        assert emulator.count("tunedModels.delete") == 0
    else:
        assert remote is None
        assert emulator.count("tunedModels.delete") == 1


def test_operator_killed_between_create_and_status_write_adopts_the_model(
    crds: ControlPlane,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    # The create reaches the Gemini API but its answer is held back; the operator dies before it arrives.
    held = emulator.add_fault("latency", "tunedModels.create", latency_seconds=2.0, times=1)
    first = start_operator()
    resources.create(tuned_model("crash-once"), PLURAL)
    resources.wait_for(
        "crash-once",
        lambda o: bool(intent_time(o)),
        plural=PLURAL,
        what="create intent recorded",
    )
    wait_until_fired(held, "the create call")
    first.kill()
    deadline = time.monotonic() + 15
    while _remote(emulator, "tunedModels/crash-once") is None:  # the held-back create lands
        assert time.monotonic() < deadline, "the create call never reached the emulator"
        time.sleep(0.1)
    assert not ((resources.get("crash-once", PLURAL) or {}).get("status") or {}).get("name")

    start_operator()
    obj = _ready(resources, "crash-once")
    with GeminiClient(base_url=emulator.url, auth=inspector_auth(emulator)) as client:
        models = client.list_tuned_models()
    assert [m.name for m in models] == ["tunedModels/crash-once"]
    assert obj["status"]["name"] == "tunedModels/crash-once"  # type: ignore[index]


def test_a_missing_secret_stalls_the_model_until_the_secret_exists(
    crds: ControlPlane,
    namespace: str,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    api_key = "AIzaSyTEST-not-a-real-key-0123456789"
    # Only this key opens the Gemini API now, so reaching Ready proves the operator used it.
    emulator.config.valid_credentials = [api_key]
    operator = start_operator()
    resources.create(
        tuned_model("keyed", apiKeySecretRef={"name": "gemini-key", "key": "apiKey"}),
        PLURAL,
    )
    obj = resources.wait_for("keyed", lambda o: is_true(o, "Stalled"), plural=PLURAL, what="Stalled")
    stalled = condition(obj, "Stalled")
    assert stalled is not None and stalled["reason"] == "SecretNotFound"
    assert "gemini-key" in stalled["message"] and "spec.apiKeySecretRef" in stalled["message"]
    assert emulator.count("tunedModels.create") == 0

    resources.core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "gemini-key"},
            "data": {"apiKey": base64.b64encode(f"{api_key}\n".encode()).decode()},
        },
    )
    obj = _ready(resources, "keyed")
    assert not is_true(obj, "Stalled")
    assert emulator.count("tunedModels.create") == 1
    # The key is nowhere the user or a log collector can see.
    assert api_key not in json.dumps(obj)
    assert api_key not in json.dumps(resources.events("keyed"))
    assert api_key not in operator.log_path.read_text()


def test_a_missing_or_bad_config_map_stalls_the_model_until_it_is_fixed(
    crds: ControlPlane,
    namespace: str,
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
) -> None:
    start_operator()
    manifest = tuned_model("from-config-map")
    manifest["spec"]["tuningTask"]["trainingData"] = {
        "configMapRef": {"name": "doubling", "key": "train.jsonl"}
    }
    resources.create(manifest, PLURAL)
    obj = resources.wait_for(
        "from-config-map", lambda o: is_true(o, "Stalled"), plural=PLURAL, what="Stalled"
    )
    stalled = condition(obj, "Stalled")
    assert stalled is not None and stalled["reason"] == "ConfigMapNotFound"
    assert "ConfigMap doubling" in stalled["message"]

    lines = [json.dumps({"textInput": f"{i} + {i}", "output": str(2 * i)}) for i in range(6)]
    bad = [*lines[:2], '{"textInput": "3 + 3", "output": ', *lines[3:]]
    resources.core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "doubling"}, "data": {"train.jsonl": "\n".join(bad)}}
    )
    obj = resources.wait_for(
        "from-config-map",
        lambda o: (condition(o, "Stalled") or {}).get("reason") == "InvalidSpec",
        plural=PLURAL,
        what="Stalled for the bad line",
    )
    message = condition(obj, "Stalled")["message"]  # type: ignore[index]
    assert "ConfigMap doubling key train.jsonl line 3" in message, message
    assert emulator.count("tunedModels.create") == 0

    resources.core.patch_namespaced_config_map(
        "doubling", namespace, {"data": {"train.jsonl": "\n".join(lines)}}
    )
    obj = _ready(resources, "from-config-map")
    assert not is_true(obj, "Stalled")
    assert emulator.count("tunedModels.create") == 1
