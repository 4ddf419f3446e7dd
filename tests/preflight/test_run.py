"""The preflight as the backend asks for it, against the emulator's Cloud Storage over real HTTP: the
decision, the status it writes, and what it reads (and does not read again)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from controller.api.conditions import Reason
from controller.api.tuningjob import PreflightMode, TuningJobSpec
from controller.google.auth import StaticTokenAuth
from controller.google.storage import StorageClient
from controller.preflight import DatasetPreflight, PreflightSettings
from emulator import Emulator, EmulatorConfig

TOKEN = "preflight-token"
READER = "reader@proj.iam.gserviceaccount.com"
GOOD = b"".join(
    json.dumps(
        {
            "contents": [
                {"role": "user", "parts": [{"text": f"q{i}"}]},
                {"role": "model", "parts": [{"text": "a"}]},
            ]
        }
    ).encode()
    + b"\n"
    for i in range(4)
)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(EmulatorConfig()) as emulator:
        emulator.state.iam.register_token(TOKEN, READER)
        yield emulator


def _preflight(emu: Emulator, default: PreflightMode = PreflightMode.REQUIRED) -> DatasetPreflight:
    storage = StorageClient(auth=StaticTokenAuth(TOKEN), base_url=emu.url)
    return DatasetPreflight(storage, PreflightSettings(default_mode=default))


def _spec(**preflight: Any) -> TuningJobSpec:
    return TuningJobSpec.model_validate(
        {
            "baseModel": "gemini-2.5-flash",
            "supervisedTuningSpec": {
                "trainingDatasetUri": "gs://bkt/train.jsonl",
                "hyperParameters": {"epochCount": 3},
            },
            **({"preflight": preflight} if preflight else {}),
        }
    )


def _media(emu: Emulator) -> int:
    return sum(1 for r in emu.requests("objects.get") if "alt=media" in r.query)


def test_a_result_in_status_is_not_read_again_until_the_generation_changes(emu: Emulator) -> None:
    emu.put_object("bkt", "train.jsonl", GOOD)
    first = _preflight(emu).check({"status": {}}, _spec())
    assert first.blocked is None
    assert [(t, r) for t, r, _ in first.events] == [("Normal", Reason.DATASET_CHECKED)]
    status = first.status["preflight"]
    assert status["trainingExampleCount"] == 4 and status["estimatedBillableTokens"] == 3 * 4 * 1
    # A new process (a restart): only the status is shared, and it is enough.
    again = _preflight(emu).check({"status": first.status}, _spec())
    assert again.status == first.status and again.events == []
    assert _media(emu) == 1
    emu.put_object("bkt", "train.jsonl", GOOD + b"not json\n")
    changed = _preflight(emu).check({"status": first.status}, _spec())
    assert _media(emu) == 2
    assert changed.blocked is not None and changed.blocked[0] is Reason.INVALID_DATASET
    assert changed.blocked[1].endswith(
        "first: gs://bkt/train.jsonl line 5: not valid JSON: Expecting value at column 1"
    )


def test_a_changed_input_checks_again(emu: Emulator) -> None:
    emu.put_object("bkt", "train.jsonl", GOOD)
    preflight = _preflight(emu)
    first = preflight.check({"status": {}}, _spec())
    strict = preflight.check({"status": first.status}, _spec(strict=True))
    assert strict.status["preflight"]["inputsDigest"] != first.status["preflight"]["inputsDigest"]
    assert strict.status["preflight"]["strict"] is True
    assert _media(emu) == 1, "the same generation, read once: the in-memory cache answered"


def test_a_missing_file_blocks_once_with_one_event_however_often_it_is_looked_at(emu: Emulator) -> None:
    preflight = _preflight(emu)
    first = preflight.check({"status": {}}, _spec())
    assert first.blocked is not None and first.blocked[0] is Reason.NOT_FOUND
    assert "gs://bkt/train.jsonl does not exist" in first.blocked[1]
    assert len(first.events) == 1
    again = preflight.check({"status": first.status}, _spec())
    assert again.blocked == first.blocked and again.events == [] and again.status == first.status


def test_an_unreadable_bucket_names_the_identity_and_the_permission(emu: Emulator) -> None:
    emu.put_object("bkt", "train.jsonl", GOOD)
    emu.state.iam.grant("other@proj.iam.gserviceaccount.com", buckets=("bkt",))
    checked = _preflight(emu).check({"status": {}}, _spec())
    assert checked.blocked is not None and checked.blocked[0] is Reason.PERMISSION_DENIED
    assert f"{READER} does not have storage.objects.get access" in checked.blocked[1]
    assert _media(emu) == 0


def test_warn_only_reports_and_lets_the_create_go_ahead_and_skip_reads_nothing(emu: Emulator) -> None:
    emu.put_object("bkt", "train.jsonl", b"{}\n")
    warned = _preflight(emu).check({"status": {}}, _spec(mode="WarnOnly"))
    assert warned.blocked is None and warned.status["preflight"]["result"] == "Failed"
    assert [(t, r) for t, r, _ in warned.events] == [("Warning", Reason.INVALID_DATASET)]
    emu.clear_requests()
    skipped = _preflight(emu).check({"status": {}}, _spec(mode="Skip"))
    assert skipped.blocked is None and skipped.status == {"preflight": {"mode": "Skip", "result": "Skipped"}}
    assert emu.count("objects.get") == 0


def test_a_tenant_that_requires_the_check_overrides_an_operator_default_of_skip(emu: Emulator) -> None:
    emu.put_object("bkt", "train.jsonl", b"{}\n")
    preflight = _preflight(emu, default=PreflightMode.SKIP)
    assert preflight.check({"status": {}}, _spec()).blocked is None
    required = preflight.check({"status": {}}, _spec(), required_by="team-a")
    assert required.blocked is not None and required.status["preflight"]["mode"] == "Required"


DATASET = "projects/proj/locations/us-central1/datasets/123"


@pytest.mark.parametrize(
    "tuning",
    [
        {"trainingDatasetUri": DATASET},
        {"trainingDatasetUri": "gs://bkt/train.jsonl", "validationDatasetUri": DATASET},
    ],
    ids=["training", "validation"],
)
def test_a_multimodal_dataset_is_skipped_with_a_note(emu: Emulator, tuning: dict[str, str]) -> None:
    emu.put_object("bkt", "train.jsonl", GOOD)
    spec = TuningJobSpec.model_validate({"baseModel": "gemini-2.5-flash", "supervisedTuningSpec": tuning})
    checked = _preflight(emu).check({"status": {}}, spec)
    assert checked.blocked is None and checked.events == []
    status = checked.status["preflight"]
    assert status["result"] == "Skipped" and status["mode"] == "Required"
    assert f"{DATASET} is a Vertex AI multimodal dataset" in status["message"]
    assert emu.count("objects.get") == 0


def _preference_line(preferred: str, dispreferred: str, *, scores: tuple[int, int] = (1, 0)) -> bytes:
    example = {
        "contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
        "completions": [
            {"score": scores[0], "completion": {"role": "model", "parts": [{"text": preferred}]}},
            {"score": scores[1], "completion": {"role": "model", "parts": [{"text": dispreferred}]}},
        ],
    }
    return json.dumps(example).encode() + b"\n"


def _preference_spec() -> TuningJobSpec:
    return TuningJobSpec.model_validate(
        {
            "baseModel": "gemini-2.5-flash",
            "preferenceOptimizationSpec": {
                "trainingDatasetUri": "gs://bkt/preferences.jsonl",
                "hyperParameters": {"epochCount": 2},
            },
        }
    )


def test_preference_data_is_checked_with_the_preference_format(emu: Emulator) -> None:
    emu.put_object("bkt", "preferences.jsonl", _preference_line("Hello!", "Go away.") * 3)
    checked = _preflight(emu).check({"status": {}}, _preference_spec(), required_by="team-a")
    assert checked.blocked is None
    status = checked.status["preflight"]
    assert status["result"] == "Passed" and status["trainingExampleCount"] == 3
    # Each example is its prompt plus its longer completion; billable over two epochs.
    per_example = -(-(len("Say hello.") + len("Go away.")) // 4)
    assert status["estimatedTrainingTokens"] == 3 * per_example
    assert status["estimatedBillableTokens"] == 2 * 3 * per_example
    # The supervised rules would have refused every line (no model turn): these are not those.
    emu.put_object(
        "bkt",
        "preferences.jsonl",
        _preference_line("Hello!", "Hi!") + _preference_line("A", "B", scores=(1, 1)),
    )
    refused = _preflight(emu).check({"status": checked.status}, _preference_spec())
    assert refused.blocked is not None and refused.blocked[0] is Reason.INVALID_DATASET
    assert refused.blocked[1].endswith(
        "first: gs://bkt/preferences.jsonl line 2: completions: both are scored 1: the pair needs one "
        "preferred (score 1) and one dispreferred (score 0)"
    )
