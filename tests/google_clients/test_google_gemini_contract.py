"""Every Gemini API client call against the emulator."""

from __future__ import annotations

import pytest
from google_helpers import Calls, model_body

from controller.google import AlreadyExistsError, GeminiClient, InvalidArgumentError, NotFoundError
from controller.google.errors import FailedPreconditionError
from emulator import Emulator


def test_create_returns_the_operation_without_done(gemini: GeminiClient, emu: Emulator) -> None:
    operation = gemini.create_tuned_model(model_body(), tuned_model_id="number-generator")
    assert operation.name.startswith("tunedModels/number-generator/operations/")
    assert operation.done is False
    assert operation.metadata is not None
    assert operation.metadata.total_steps == 10
    assert operation.tuned_model_name == "tunedModels/number-generator"
    assert emu.requests("tunedModels.create")[0].query == "tunedModelId=number-generator"


def test_operation_reports_progress_then_the_model(gemini: GeminiClient, emu: Emulator) -> None:
    operation = gemini.create_tuned_model(model_body(), tuned_model_id="progress-model")
    emu.advance(4)
    running = gemini.get_operation(operation.name)
    assert not running.done
    assert running.metadata is not None and running.metadata.completed_steps == 4
    assert running.metadata.completed_percent == pytest.approx(40.0)
    assert [s.step for s in running.metadata.snapshots] == [1, 2, 3, 4]
    assert gemini.get_tuned_model("progress-model").state == "CREATING"
    emu.advance(10)
    done = gemini.get_operation(operation.name)
    assert done.done and done.error is None
    assert done.response is not None and done.response.state == "ACTIVE"
    model = gemini.get_tuned_model("tunedModels/progress-model")
    assert model.state == "ACTIVE"
    assert model.tuning_task is not None and model.tuning_task.complete_time is not None
    assert len(model.tuning_task.snapshots) == 10
    assert model.tuning_task.snapshots[-1].mean_loss is not None
    assert model.tuning_task.snapshots[-1].mean_loss < model.tuning_task.snapshots[0].mean_loss  # type: ignore[operator]


def test_failed_tuning_ends_the_operation_with_an_error(gemini: GeminiClient, emu: Emulator) -> None:
    emu.fail_jobs(display_name="Doomed*", at_fraction=0.5, message="Tuning failed at step 5.")
    operation = gemini.create_tuned_model(model_body("Doomed model"), tuned_model_id="doomed")
    emu.advance(100)
    done = gemini.get_operation(operation.name)
    assert done.done and done.error is not None
    assert done.error.code == 13 and done.error.message == "Tuning failed at step 5."
    assert gemini.get_tuned_model("doomed").state == "FAILED"


def test_create_without_an_id_derives_one_from_the_display_name(gemini: GeminiClient) -> None:
    operation = gemini.create_tuned_model(model_body("Sentence Translator"))
    model_id = operation.tuned_model_name.removeprefix("tunedModels/")
    assert model_id.startswith("sentence-translator-") and len(model_id) == len("sentence-translator-") + 5


def test_duplicate_id_is_already_exists(gemini: GeminiClient) -> None:
    gemini.create_tuned_model(model_body(), tuned_model_id="twice")
    with pytest.raises(AlreadyExistsError) as caught:
        gemini.create_tuned_model(model_body(), tuned_model_id="twice")
    assert caught.value.http_status == 409 and caught.value.status == "ALREADY_EXISTS"


def test_list_pages_and_filters(gemini: GeminiClient, calls: Calls) -> None:
    for index in range(5):
        gemini.create_tuned_model(model_body(f"Alpha {index}"), tuned_model_id=f"alpha-{index}")
    gemini.create_tuned_model(model_body("Beta"), tuned_model_id="beta")
    models = gemini.list_tuned_models(page_size=2)
    assert [m.model_id for m in models] == ["alpha-0", "alpha-1", "alpha-2", "alpha-3", "alpha-4", "beta"]
    assert calls.statuses("tunedModels.list") == [200, 200, 200]
    assert [m.model_id for m in gemini.list_tuned_models(filter="beta owner:me")] == ["beta"]
    first = gemini.list_tuned_models_page(page_size=4)
    assert len(first.tuned_models) == 4 and first.next_page_token


def test_patch_changes_only_masked_fields(gemini: GeminiClient, emu: Emulator) -> None:
    gemini.create_tuned_model(model_body(), tuned_model_id="patch-me")
    patched = gemini.patch_tuned_model(
        "patch-me", {"description": "new words", "displayName": "ignored"}, update_mask=["description"]
    )
    assert patched.description == "new words"
    assert patched.display_name == "Number generator"
    assert emu.requests("tunedModels.patch")[0].query == "updateMask=description"
    assert gemini.get_tuned_model("patch-me").description == "new words"


def test_patch_with_an_unknown_mask_field(gemini: GeminiClient, emu: Emulator, calls: Calls) -> None:
    gemini.create_tuned_model(model_body(), tuned_model_id="mask-check")
    with pytest.raises(ValueError, match="baseModel"):
        gemini.patch_tuned_model("mask-check", {"baseModel": "x"}, update_mask=["baseModel"])
    assert calls.statuses("tunedModels.patch") == []
    # The server refuses it too, with the real 400 shape.
    import httpx
    from google_helpers import TOKEN

    response = httpx.patch(
        f"{emu.url}/v1beta/tunedModels/mask-check",
        params={"updateMask": "baseModel"},
        json={"baseModel": "models/x"},
        headers={"authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_delete_then_get_is_not_found(gemini: GeminiClient) -> None:
    gemini.create_tuned_model(model_body(), tuned_model_id="short-lived")
    gemini.delete_tuned_model("short-lived")
    with pytest.raises(NotFoundError):
        gemini.get_tuned_model("short-lived")
    with pytest.raises(NotFoundError):
        gemini.delete_tuned_model("short-lived")


def test_generate_and_stream_on_an_active_model(gemini: GeminiClient, emu: Emulator) -> None:
    gemini.create_tuned_model(model_body(), tuned_model_id="talker")
    with pytest.raises(FailedPreconditionError):
        gemini.generate_content("talker", "too early")
    emu.advance(100)
    answer = gemini.generate_content("talker", "one two three")
    assert answer.text == "[Number generator] three two one"
    assert answer.candidates[0].finish_reason == "STOP"
    chunks = list(gemini.stream_generate_content("talker", "one two three four five"))
    assert len(chunks) == 2
    assert "".join(c.text for c in chunks) == "[Number generator] five four three two one"


def test_invalid_create_is_invalid_argument(gemini: GeminiClient) -> None:
    body = model_body()
    body["baseModel"] = "models/gemini-2.5-pro"
    with pytest.raises(InvalidArgumentError, match="not supported for tuning"):
        gemini.create_tuned_model(body, tuned_model_id="bad-base")
    with pytest.raises(ValueError, match="tuned_model_id"):
        gemini.create_tuned_model(model_body(), tuned_model_id="Bad_Id")


def test_training_data_is_never_returned(gemini: GeminiClient, emu: Emulator) -> None:
    gemini.create_tuned_model(model_body(), tuned_model_id="private-data")
    emu.advance(100)
    raw = emu.state.gemini.get("private-data")
    assert "trainingData" not in raw["tuningTask"]
    assert raw["tuningTask"]["hyperparameters"] == {"epochCount": 2, "batchSize": 4, "learningRate": 0.001}
