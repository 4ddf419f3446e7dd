"""Dataset preflight end to end: the operator reads the JSONL from the emulator's Cloud Storage, as the
job's identity, before it creates anything on Vertex AI; the emulator's request log shows what was sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e.conftest import OperatorFactory
from e2e.support import Resources, condition, is_true, tuning_job
from e2e.test_tenancy import Tenants, tenants  # noqa: F401 - the fixture
from emulator.server import Emulator

BUCKET = "vertexops-test"
PREFLIGHT_ARGS = ("--preflight-default=Required", "--preflight-recheck-seconds=0.5")


def _example(question: str = "2 + 2?", answer: str = "4") -> dict[str, Any]:
    return {
        "contents": [
            {"role": "user", "parts": [{"text": question}]},
            {"role": "model", "parts": [{"text": answer}]},
        ]
    }


def _jsonl(*examples: Any) -> bytes:
    return b"".join((e if isinstance(e, bytes) else json.dumps(e).encode()) + b"\n" for e in examples)


GOOD = _jsonl(*(_example(f"{i} + {i}?", str(2 * i)) for i in range(10)))
VALIDATION = _jsonl(*(_example(f"{i} * 2?", str(2 * i)) for i in range(3)))


def _job(
    name: str, train: str = "train.jsonl", validation: str | None = "validation.jsonl", **spec: Any
) -> dict[str, Any]:
    manifest = tuning_job(name, **spec)
    tuning = manifest["spec"]["supervisedTuningSpec"]
    tuning["trainingDatasetUri"] = f"gs://{BUCKET}/{train}"
    if validation is None:
        tuning.pop("validationDatasetUri")
    else:
        tuning["validationDatasetUri"] = f"gs://{BUCKET}/{validation}"
    return manifest


def _stalled(reason: str) -> Any:
    return lambda o: is_true(o, "Stalled") and (condition(o, "Stalled") or {}).get("reason") == reason


def _created(obj: dict[str, Any]) -> bool:
    return bool((obj.get("status") or {}).get("name"))


def _media_reads(emulator: Emulator) -> int:
    return sum(1 for r in emulator.requests("objects.get") if "alt=media" in r.query)


def test_a_clean_dataset_passes_and_the_job_is_created_with_the_counts_in_status(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    emulator.put_object(BUCKET, "train.jsonl", GOOD)
    emulator.put_object(BUCKET, "validation.jsonl", VALIDATION)
    start_operator(*PREFLIGHT_ARGS)
    resources.create(_job("clean"))

    obj = resources.wait_for("clean", _created, what="job created")
    preflight = obj["status"]["preflight"]
    assert preflight["result"] == "Passed" and preflight["mode"] == "Required"
    assert preflight["trainingExampleCount"] == 10 and preflight["validationExampleCount"] == 3
    tokens = sum(-(-(len(f"{i} + {i}?") + len(str(2 * i))) // 4) for i in range(10))
    assert preflight["estimatedTrainingTokens"] == tokens
    assert preflight["epochCount"] == 2 and preflight["estimatedBillableTokens"] == 2 * tokens
    assert preflight["largestExample"]["uri"] == f"gs://{BUCKET}/train.jsonl"
    assert preflight["errorCount"] == 0 and "problems" not in preflight
    generations = {f["uri"]: f["generation"] for f in preflight["files"]}
    assert set(generations) == {f"gs://{BUCKET}/train.jsonl", f"gs://{BUCKET}/validation.jsonl"}
    assert emulator.count("tuningJobs.create") == 1
    # Read before the create, not after.
    methods = [r.method for r in emulator.requests() if r.method in ("objects.get", "tuningJobs.create")]
    assert methods.index("tuningJobs.create") > max(i for i, m in enumerate(methods) if m == "objects.get")
    checked = [e for e in resources.events("clean") if e["reason"] == "DatasetChecked"]
    assert checked and checked[0]["message"].startswith("10 training examples and 3 validation examples")


# (name, training file, expected start of the first problem after "gs://vertexops-test/<name>.jsonl ")
BROKEN: list[tuple[str, bytes, str]] = [
    ("not-json", b"{contents: [}", "line 2: not valid JSON: Expecting property name"),
    (
        "wrong-role",
        json.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"text": "a"}]},
                    {"role": "assistant", "parts": [{"text": "b"}]},
                ]
            }
        ).encode(),
        'line 2: contents[1].role: "assistant" is not one of user, model',
    ),
    (
        "empty-parts",
        json.dumps(
            {"contents": [{"role": "user", "parts": []}, {"role": "model", "parts": [{"text": "b"}]}]}
        ).encode(),
        "line 2: contents[0].parts: is empty",
    ),
    (
        "missing-contents",
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(),
        "line 2: contents: required",
    ),
    ("contents-not-list", json.dumps({"contents": "hi"}).encode(), "line 2: contents: expected a list"),
    ("contents-empty", json.dumps({"contents": []}).encode(), "line 2: contents: is empty"),
    ("not-an-object", b'["user", "model"]', "line 2: expected a JSON object with contents[], got a list"),
    (
        "missing-role",
        json.dumps(
            {"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b"}]}]}
        ).encode(),
        "line 2: contents[0].role: required",
    ),
    (
        "missing-parts",
        json.dumps({"contents": [{"role": "user"}, {"role": "model", "parts": [{"text": "b"}]}]}).encode(),
        "line 2: contents[0].parts: required",
    ),
    (
        "part-without-data",
        json.dumps(
            {"contents": [{"role": "user", "parts": [{}]}, {"role": "model", "parts": [{"text": "b"}]}]}
        ).encode(),
        "line 2: contents[0].parts[0]: has no data",
    ),
    (
        "two-data-fields",
        json.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"text": "a", "inlineData": {"mimeType": "x", "data": ""}}]},
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            }
        ).encode(),
        "line 2: contents[0].parts[0]: holds text and inlineData",
    ),
    (
        "text-not-string",
        json.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"text": ["a"]}]},
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            }
        ).encode(),
        "line 2: contents[0].parts[0].text: expected a string",
    ),
    (
        "file-without-mime",
        json.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"fileData": {"fileUri": "gs://b/c.png"}}]},
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            }
        ).encode(),
        "line 2: contents[0].parts[0].fileData.mimeType: required",
    ),
    (
        "file-local-path",
        json.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"fileData": {"mimeType": "image/png", "fileUri": "c.png"}}]},
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            }
        ).encode(),
        'line 2: contents[0].parts[0].fileData.fileUri: "c.png" is not a gs://',
    ),
    (
        "no-model-turn",
        json.dumps({"contents": [{"role": "user", "parts": [{"text": "a"}]}]}).encode(),
        "line 2: contents: has no model turn",
    ),
    (
        "system-instruction-string",
        json.dumps({**_example(), "systemInstruction": "Be brief."}).encode(),
        "line 2: systemInstruction: expected an object",
    ),
    (
        "tools-not-list",
        json.dumps({**_example(), "tools": {"functionDeclarations": []}}).encode(),
        "line 2: tools: expected a list",
    ),
    (
        "function-call-without-name",
        json.dumps(
            {
                "contents": [
                    {"role": "user", "parts": [{"text": "a"}]},
                    {"role": "model", "parts": [{"functionCall": {"args": {}}}]},
                ]
            }
        ).encode(),
        "line 2: contents[1].parts[0].functionCall.name: required",
    ),
    ("not-utf8", b'{"contents": "\xff"}', "line 2: not UTF-8 text"),
    (
        "enormous-line",
        b'{"contents": [{"role": "user", "parts": [{"text": "' + b"x" * (5 << 20) + b'"}]}]}',
        "line 2: ",
    ),
]


def test_each_kind_of_broken_line_stalls_its_job_naming_line_and_field_and_nothing_is_created(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory, tmp_path: Path
) -> None:
    first = _jsonl(_example())
    for name, line, _ in BROKEN:
        emulator.put_object(BUCKET, f"{name}.jsonl", first + line + b"\n")
    # A validation file of 5,001 examples, an empty file, and one over 1 GB (sparse: nothing is read).
    emulator.put_object(BUCKET, "train.jsonl", GOOD)
    emulator.put_object(BUCKET, "5001.jsonl", _jsonl(*(_example() for _ in range(5001))))
    emulator.put_object(BUCKET, "empty.jsonl", b"")
    huge = tmp_path / "huge.jsonl"
    with huge.open("wb") as handle:
        handle.truncate((1 << 30) + 1)
    emulator.put_object(BUCKET, "huge.jsonl", path=huge)
    start_operator(*PREFLIGHT_ARGS)
    expected: dict[str, str] = {}
    for name, _, message in BROKEN:
        resources.create(_job(name, train=f"{name}.jsonl", validation=None))
        expected[name] = f"gs://{BUCKET}/{name}.jsonl {message}"
    resources.create(_job("validation-5001", validation="5001.jsonl"))
    expected["validation-5001"] = (
        f"gs://{BUCKET}/5001.jsonl line 5001: example 5001 is over the 5000 examples a validation dataset"
    )
    resources.create(_job("empty-file", train="empty.jsonl", validation=None))
    expected["empty-file"] = f"gs://{BUCKET}/empty.jsonl: holds no examples"
    resources.create(_job("over-1gb", train="huge.jsonl", validation=None))
    expected["over-1gb"] = f"gs://{BUCKET}/huge.jsonl: {(1 << 30) + 1} bytes is over the {1 << 30} bytes"
    resources.create(_job("missing-file", train="no-such.jsonl", validation=None))
    assert len(expected) >= 23

    for name, message in expected.items():
        obj = resources.wait_for(name, _stalled("InvalidDataset"), what=f"{name}: Stalled InvalidDataset")
        stalled = condition(obj, "Stalled")
        assert stalled is not None
        assert message in stalled["message"], (name, stalled["message"])
        preflight = obj["status"]["preflight"]
        assert preflight["result"] == "Failed" and preflight["errorCount"] >= 1
        assert any(message in p for p in preflight["problems"]), (name, preflight["problems"])
        assert is_true(obj, "Synced") and not is_true(obj, "Ready")
        assert "name" not in obj["status"]
    missing = resources.wait_for("missing-file", _stalled("NotFound"), what="Stalled NotFound")
    assert f"gs://{BUCKET}/no-such.jsonl does not exist" in condition(missing, "Stalled")["message"]  # type: ignore[index]
    assert emulator.count("tuningJobs.create") == 0, "a job with a broken dataset reached Vertex AI"
    assert not [
        r for r in emulator.requests("objects.get") if "huge.jsonl" in r.path and "alt=media" in r.query
    ]
    events = resources.events("wrong-role")
    assert any(e["type"] == "Warning" and e["reason"] == "InvalidDataset" for e in events)


def test_fixing_the_object_lets_the_job_start_without_touching_the_resource(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    bad = json.dumps(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "a"}]},
                {"role": "assistant", "parts": [{"text": "b"}]},
            ]
        }
    )
    emulator.put_object(BUCKET, "train.jsonl", GOOD + bad.encode() + b"\n")
    emulator.put_object(BUCKET, "validation.jsonl", VALIDATION)
    start_operator(*PREFLIGHT_ARGS)
    resources.create(_job("fix-me"))
    obj = resources.wait_for("fix-me", _stalled("InvalidDataset"), what="Stalled InvalidDataset")
    assert condition(obj, "Stalled")["message"].endswith(  # type: ignore[index]
        f'first: gs://{BUCKET}/train.jsonl line 11: contents[1].role: "assistant" is not one of user, model'
    )
    generation = resources.get("fix-me")["metadata"]["generation"]  # type: ignore[index]
    reads = _media_reads(emulator)

    fixed = emulator.put_object(BUCKET, "train.jsonl", GOOD)
    obj = resources.wait_for("fix-me", _created, what="created")
    assert obj["metadata"]["generation"] == generation, "the resource was not touched"
    preflight = obj["status"]["preflight"]
    assert preflight["result"] == "Passed" and preflight["trainingExampleCount"] == 10
    checked = {f["uri"]: f["generation"] for f in preflight["files"]}
    assert checked[f"gs://{BUCKET}/train.jsonl"] == fixed["generation"]
    assert _media_reads(emulator) == reads + 1, "only the new generation was read again"
    assert not is_true(obj, "Stalled")
    assert emulator.count("tuningJobs.create") == 1
    resources.wait_for("fix-me", lambda o: is_true(o, "Ready"), timeout=90, what="Ready")


def test_warnings_do_not_block_unless_strict(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    long = _example("x" * (4 * 131_072 + 40))
    emulator.put_object(BUCKET, "train.jsonl", GOOD + _jsonl(long, {**_example(), "note": "ignored"}))
    emulator.put_object(BUCKET, "validation.jsonl", VALIDATION)
    start_operator(*PREFLIGHT_ARGS)
    resources.create(_job("warned"))
    resources.create(_job("strict", preflight={"strict": True}))

    obj = resources.wait_for("warned", _created, what="created")
    preflight = obj["status"]["preflight"]
    assert preflight["result"] == "PassedWithWarnings" and preflight["warningCount"] == 2
    assert preflight["trainingExampleCount"] == 12
    assert preflight["largestExample"] == {
        "uri": f"gs://{BUCKET}/train.jsonl",
        "line": 11,
        "estimatedTokens": 131_072 + 11,
    }
    assert preflight["problems"][0].startswith(
        f"warning: gs://{BUCKET}/train.jsonl line 11: about 131083 tokens"
    )
    assert preflight["problems"][1].startswith(
        f"warning: gs://{BUCKET}/train.jsonl line 12: note: unknown field"
    )
    resources.wait_for_event("warned", "DatasetWarnings")

    strict = resources.wait_for("strict", _stalled("InvalidDataset"), what="strict: Stalled")
    assert "spec.preflight.strict" in condition(strict, "Stalled")["message"]  # type: ignore[index]
    assert emulator.count("tuningJobs.create") == 1
    # Changing the spec checks again: strict off, the same files, and the job starts.
    resources.patch("strict", {"spec": {"preflight": {"strict": False}}})
    resources.wait_for("strict", _created, what="created")
    assert emulator.count("tuningJobs.create") == 2


def test_skip_reads_nothing_and_warn_only_creates_despite_errors(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    emulator.put_object(BUCKET, "bad.jsonl", b"not json\n")
    start_operator(*PREFLIGHT_ARGS)
    resources.create(_job("skipped", train="absent.jsonl", validation=None, preflight={"mode": "Skip"}))
    resources.create(_job("warn-only", train="bad.jsonl", validation=None, preflight={"mode": "WarnOnly"}))

    skipped = resources.wait_for("skipped", _created, what="created")
    assert skipped["status"]["preflight"] == {"mode": "Skip", "result": "Skipped"}
    assert not [r for r in emulator.requests("objects.get") if "absent.jsonl" in r.path]
    warned = resources.wait_for("warn-only", _created, what="created")
    assert warned["status"]["preflight"]["result"] == "Failed"
    assert warned["status"]["preflight"]["mode"] == "WarnOnly"
    resources.wait_for_event("warn-only", "InvalidDataset")
    assert emulator.count("tuningJobs.create") == 2


def test_a_restarted_operator_does_not_read_a_checked_generation_again(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    emulator.put_object(BUCKET, "train.jsonl", b"not json\n")
    first = start_operator(*PREFLIGHT_ARGS)
    resources.create(_job("cached", validation=None))
    resources.wait_for("cached", _stalled("InvalidDataset"), what="Stalled")
    first.stop()
    reads = _media_reads(emulator)
    assert reads == 1
    looked = emulator.count("objects.get") - reads
    start_operator(*PREFLIGHT_ARGS)
    # The new process looks at the object's generation (a metadata read), finds it in status, and stops.
    resources.wait_for(
        "cached",
        lambda _o: emulator.count("objects.get") - _media_reads(emulator) >= looked + 3,
        what="the generation looked at again after the restart",
    )
    assert _media_reads(emulator) == reads
    assert emulator.count("tuningJobs.create") == 0


def test_a_bucket_the_identity_may_not_read_names_the_identity_and_the_permission(
    resources: Resources, emulator: Emulator, start_operator: OperatorFactory
) -> None:
    emulator.put_object(BUCKET, "train.jsonl", GOOD)
    operator = start_operator(*PREFLIGHT_ARGS)
    assert operator.adc is not None
    principal = operator.adc.principal
    emulator.state.iam.grant(principal, projects=("vertexops-test",), buckets=("another-bucket",))
    resources.create(_job("denied", validation=None))
    obj = resources.wait_for("denied", _stalled("PermissionDenied"), what="Stalled PermissionDenied")
    message = condition(obj, "Stalled")["message"]  # type: ignore[index]
    assert f"{principal} does not have storage.objects.get access" in message
    assert f"bucket {BUCKET}" in message and "roles/storage.objectViewer" in message
    assert emulator.count("tuningJobs.create") == 0
    emulator.state.iam.grant(principal, buckets=(BUCKET,))
    resources.wait_for("denied", _created, what="created once allowed")


def test_a_tenant_that_requires_the_preflight_overrides_the_default_and_refuses_skip(
    resources: Resources,
    emulator: Emulator,
    start_operator: OperatorFactory,
    tenants: Tenants,  # noqa: F811
    namespace: str,
) -> None:
    tenants.create(
        {
            "apiVersion": "tuning.vertexops.dev/v1alpha1",
            "kind": "TuningTenant",
            "metadata": {"name": f"{namespace}-tenant"},
            "spec": {
                "namespaces": {"names": [namespace]},
                "projects": ["vertexops-test"],
                "datasetURIPrefixes": [f"gs://{BUCKET}/"],
                "requireDatasetPreflight": True,
            },
        }
    )
    emulator.put_object(BUCKET, "bad.jsonl", b'{"contents": []}\n')
    start_operator("--preflight-default=Skip", "--preflight-recheck-seconds=0.5")
    resources.create(_job("by-default", train="bad.jsonl", validation=None))
    resources.create(_job("asks-skip", train="bad.jsonl", validation=None, preflight={"mode": "Skip"}))

    checked = resources.wait_for("by-default", _stalled("InvalidDataset"), what="Stalled InvalidDataset")
    assert checked["status"]["preflight"]["mode"] == "Required"
    refused = resources.wait_for("asks-skip", _stalled("PolicyDenied"), what="Stalled PolicyDenied")
    assert condition(refused, "Stalled")["message"] == (  # type: ignore[index]
        f"spec.preflight.mode: Skip is not allowed by TuningTenant '{namespace}-tenant' "
        "(requireDatasetPreflight: the dataset must be checked; use Required or leave it out)"
    )
    assert emulator.count("tuningJobs.create") == 0
