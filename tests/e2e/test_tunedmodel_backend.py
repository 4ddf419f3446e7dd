"""The TunedModel backend on its own, against the emulator: no operator process, so each case is quick.

What the lifecycle tests cannot pin down cheaply: the update mask names only what differs, an existing model
is adopted on 409, a vanished model stalls instead of being silently re-created, JSONL errors name their line,
one client per API key (and never the key itself as a name), and an unreadable Secret on a real API server.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from controller.api.conditions import Reason
from controller.api.tunedmodel import TunedModel
from controller.backends.gemini_clients import GeminiClients, key_digest
from controller.backends.kube_refs import ObjectReader, api_reader, read_secret_key
from controller.backends.training_data import parse_jsonl
from controller.backends.tunedmodel import TunedModelBackend, TunedModelSettings, differences
from controller.external import JsonObject, Phase, SpecError
from controller.google.auth import Auth, StaticTokenAuth
from controller.google.gemini import GeminiClient
from controller.google.models_gemini import GeminiTunedModel
from controller.runtime.kubeapi import KubeApi, ResourceRef
from controller.testenv.controlplane import ControlPlane
from controller.testenv.google_credentials import inspector_auth
from e2e.support import tuned_model
from emulator.config import EmulatorConfig
from emulator.server import Emulator


def _no_reads(resource: ResourceRef, namespace: str, name: str) -> JsonObject | None:
    raise AssertionError(f"unexpected read of {resource} {namespace}/{name}")


@pytest.fixture
def gemini() -> Iterator[Emulator]:
    # 8 steps of 2 simulated seconds; time stands still unless a test advances it.
    with Emulator(EmulatorConfig(time_scale=0)) as emu:
        yield emu


@pytest.fixture
def backend(gemini: Emulator) -> Iterator[TunedModelBackend]:
    clients = GeminiClients(
        lambda auth: GeminiClient(auth=auth or inspector_auth(gemini), base_url=gemini.url)
    )
    yield TunedModelBackend(clients, _no_reads, TunedModelSettings(poll_min_seconds=1, poll_max_seconds=5))
    clients.close()


def _obj(name: str, status: JsonObject | None = None, **spec: Any) -> JsonObject:
    obj = tuned_model(name, **spec)
    obj["metadata"].update({"namespace": "team-a", "uid": f"uid-{name}"})
    obj["status"] = status or {}
    return obj


def _with_status(obj: JsonObject, status: JsonObject) -> JsonObject:
    return {**obj, "status": {k: v for k, v in status.items() if v is not None}}


def test_create_observe_and_progress_follow_the_operation(
    gemini: Emulator, backend: TunedModelBackend
) -> None:
    obj = _obj("tracked")
    assert backend.observe(obj).exists is False

    created = backend.create(obj)
    assert created.exists and created.phase is Phase.RUNNING and created.reason is Reason.MODEL_CREATING
    assert created.status["name"] == "tunedModels/tracked"
    assert created.status["operation"].startswith("tunedModels/tracked/operations/")
    assert created.status["totalSteps"] == 8 and created.status["completedSteps"] == 0
    assert created.poll_after == 1

    gemini.advance(7)  # three steps of two seconds
    running = backend.observe(_with_status(obj, created.status))
    assert running.status["completedSteps"] == 3
    assert running.status["completedPercent"] == 37.5
    assert [s["step"] for s in running.status["snapshots"]] == [1, 2, 3]
    assert "step 3 of 8" in running.message
    assert not running.ready and running.up_to_date

    gemini.advance(60)
    active = backend.observe(_with_status(obj, running.status))
    assert active.phase is Phase.SUCCEEDED and active.reason is Reason.MODEL_ACTIVE and active.ready
    assert active.outputs == {"model": "tunedModels/tracked"}
    assert active.poll_after is None, "an ACTIVE model is re-read at resync, not polled"
    assert active.status["completedPercent"] == 100.0 and active.status["completedSteps"] == 8
    assert gemini.count("tunedModels.create") == 1


def test_snapshots_in_status_are_the_latest_ten(gemini: Emulator, backend: TunedModelBackend) -> None:
    obj = _obj("many-steps", examples=20)  # 20 examples, 2 epochs, batch 2: 20 steps
    created = backend.create(obj)
    gemini.advance(31)  # fifteen steps
    running = backend.observe(_with_status(obj, created.status))
    assert [s["step"] for s in running.status["snapshots"]] == list(range(6, 16))


def test_a_failed_model_is_terminal_with_the_operation_error(
    gemini: Emulator, backend: TunedModelBackend
) -> None:
    gemini.fail_jobs(display_name="doomed*", at_fraction=0.5, message="Tuning failed: example 3 is empty.")
    obj = _obj("doomed")
    created = backend.create(obj)
    gemini.advance(60)
    failed = backend.observe(_with_status(obj, created.status))
    assert failed.phase is Phase.FAILED and failed.reason is Reason.MODEL_FAILED
    assert failed.status["error"]["message"] == "Tuning failed: example 3 is empty."
    assert "example 3 is empty" in failed.message
    assert failed.poll_after is None and not failed.ready


def test_a_create_that_already_landed_is_adopted(gemini: Emulator, backend: TunedModelBackend) -> None:
    obj = _obj("landed")
    backend.create(obj)
    # A second operator (or this one after a crash) creates again: 409, and it follows the same model.
    again = TunedModelBackend(
        GeminiClients(lambda auth: GeminiClient(auth=auth or inspector_auth(gemini), base_url=gemini.url)),
        _no_reads,
    )
    adopted = again.create(obj)
    assert adopted.exists and adopted.status["name"] == "tunedModels/landed"
    assert gemini.count("tunedModels.create") == 2
    with GeminiClient(base_url=gemini.url, auth=inspector_auth(gemini)) as client:
        assert [m.name for m in client.list_tuned_models()] == ["tunedModels/landed"]


def test_update_patches_only_the_fields_that_differ(gemini: Emulator, backend: TunedModelBackend) -> None:
    obj = _obj("patched", description="old", temperature=0.5, topK=10)
    created = backend.create(obj)
    assert backend.observe(_with_status(obj, created.status)).up_to_date

    obj["spec"].update(description="new", topK=12)
    seen = backend.observe(_with_status(obj, created.status))
    assert not seen.up_to_date
    updated = backend.update(obj, seen)
    assert updated.up_to_date
    masks = [r.query for r in gemini.requests("tunedModels.patch")]
    assert masks in (["updateMask=description%2CtopK"], ["updateMask=description,topK"]), masks
    with GeminiClient(base_url=gemini.url, auth=inspector_auth(gemini)) as client:
        remote = client.get_tuned_model("tunedModels/patched")
    assert (remote.description, remote.top_k, remote.temperature) == ("new", 12, 0.5)


def test_differences_leave_unset_fields_alone_and_tolerate_float32() -> None:
    resource = TunedModel.model_validate(
        tuned_model("diff", description="", temperature=0.7, readerProjectNumbers=[2, 1])
    )
    remote = GeminiTunedModel(
        name="tunedModels/diff",
        display_name="diff",
        temperature=0.699999988079071,  # 0.7 as a 32-bit float
        top_p=0.95,
        top_k=64,
        reader_project_numbers=[1, 2],
    )
    assert differences(resource, remote) == {}, "topP and topK are not in the spec, so not managed"
    remote.description = "set by hand"
    remote.reader_project_numbers = [1]
    assert differences(resource, remote) == {"description": "", "readerProjectNumbers": ["1", "2"]}


def test_a_model_deleted_outside_kubernetes_stalls_instead_of_being_tuned_again(
    gemini: Emulator, backend: TunedModelBackend
) -> None:
    obj = _obj("vanishing")
    created = backend.create(obj)
    with GeminiClient(base_url=gemini.url, auth=inspector_auth(gemini)) as client:
        client.delete_tuned_model("tunedModels/vanishing")
    with pytest.raises(SpecError) as caught:
        backend.observe(_with_status(obj, created.status))
    assert caught.value.reason is Reason.NOT_FOUND
    assert "tunedModels/vanishing" in caught.value.message

    # While the resource is being deleted, a missing model means there is nothing left to do.
    deleting = _with_status(obj, created.status)
    deleting["metadata"] = {**deleting["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}
    assert backend.observe(deleting).exists is False
    assert backend.delete(deleting, created) is True


def test_an_unknown_state_is_reported_and_polled(gemini: Emulator, backend: TunedModelBackend) -> None:
    obj = _obj("odd")
    created = backend.create(obj)
    gemini.add_fault("unknown_state", "tunedModels.get", state="ARCHIVED")
    odd = backend.observe(_with_status(obj, created.status))
    assert odd.phase is Phase.UNKNOWN and "ARCHIVED" in odd.message
    assert odd.poll_after == 1


def test_jsonl_errors_name_the_line() -> None:
    good = '{"textInput": "1 + 1", "output": "2"}\n\n{"text_input": "2 + 2", "output": "4"}\n'
    assert parse_jsonl(good, "here") == [
        {"textInput": "1 + 1", "output": "2"},
        {"textInput": "2 + 2", "output": "4"},
    ]
    cases = {
        '{"textInput": "a", "output": "b"}\n{"textInput": "c"\n': "here line 2: not valid JSON",
        '{"textInput": "a", "output": "b"}\n["a", "b"]\n': "here line 2: expected an object",
        '\n\n{"textInput": "a"}\n': "here line 3: output: Field required",
        '{"textInput": "a", "output": ""}\n': "here line 1: output: String should have at least 1 character",
        "\n  \n": "here: holds no examples",
    }
    for text, expected in cases.items():
        with pytest.raises(SpecError) as caught:
            parse_jsonl(text, "here")
        assert caught.value.reason is Reason.INVALID_SPEC
        assert caught.value.message.startswith(expected), caught.value.message


def test_one_client_per_api_key_named_by_digest_and_closed_when_unused() -> None:
    made: list[tuple[str, GeminiClient]] = []

    def factory(auth: Auth | None) -> GeminiClient:
        client = GeminiClient(auth=auth or StaticTokenAuth("operator-token"), base_url="http://127.0.0.1:9")
        made.append((auth.kind if auth else "operator", client))
        return client

    clients = GeminiClients(factory)
    first = clients.client_for("uid-1", "key-one")
    assert clients.client_for("uid-2", "key-one") is first
    second = clients.client_for("uid-3", "key-two")
    operator = clients.client_for("uid-4", None)
    assert len({id(first), id(second), id(operator)}) == 3
    assert [kind for kind, _ in made] == ["api-key", "api-key", "operator"]
    assert "key-one" not in repr(clients.__dict__) and key_digest("key-one") in repr(clients.__dict__)

    # uid-3 moves to key-one: key-two is used by nobody and is closed; the rest stay.
    assert clients.client_for("uid-3", "key-one") is first
    assert len(clients) == 2
    clients.forget("uid-1")
    clients.forget("uid-2")
    assert len(clients) == 2, "uid-3 still uses key-one"
    clients.forget("uid-3")
    clients.forget("uid-4")
    assert len(clients) == 1, "the operator's own client is kept"
    clients.close()


def test_a_secret_the_operator_may_not_read_stalls_with_a_message_naming_it(
    crds: ControlPlane, api_client: k8s.ApiClient, namespace: str
) -> None:
    k8s.CoreV1Api(api_client).create_namespaced_secret(
        namespace,
        {"metadata": {"name": "gemini-key"}, "data": {"apiKey": base64.b64encode(b"AIza-secret").decode()}},
    )
    admin: ObjectReader = api_reader(KubeApi(api_client))
    assert read_secret_key(admin, namespace, "gemini-key", "apiKey", "spec.apiKeySecretRef") == "AIza-secret"
    with pytest.raises(SpecError) as caught:
        read_secret_key(admin, namespace, "gemini-key", "other", "spec.apiKeySecretRef")
    assert caught.value.reason is Reason.SECRET_NOT_FOUND and "no key 'other'" in caught.value.message

    # A ServiceAccount without rights on Secrets gets 403: the same reason, a message saying why.
    kubeconfig = crds.service_account_kubeconfig(namespace, "no-rights")
    from kubernetes import config as k8s_config

    with k8s_config.new_client_from_config(config_file=str(kubeconfig)) as limited:
        reader = api_reader(KubeApi(limited))
        with pytest.raises(SpecError) as caught:
            read_secret_key(reader, namespace, "gemini-key", "apiKey", "spec.apiKeySecretRef")
    assert caught.value.reason is Reason.SECRET_NOT_FOUND
    assert "Secret gemini-key" in caught.value.message and "cannot be read" in caught.value.message
    assert "AIza-secret" not in caught.value.message
