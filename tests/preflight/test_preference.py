"""The preference line checker and its limits: every documented rule of the preference tuning format
(prompt, a scored pair of completions, text only), each problem naming its field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from controller.api.tuningjob import PreflightMode
from controller.preflight.dataset import FileRole, check_file
from controller.preflight.example import Severity
from controller.preflight.limits import PREFERENCE, DataFormat, limits_for
from controller.preflight.preference import check_preference_line
from controller.preflight.summary import summarize


def _turn(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"text": text}]}


# The example of "Prepare preference tuning data for Gemini models", as documented.
DOCUMENTED: dict[str, Any] = {
    "system_instruction": {"parts": [{"text": "You are a chat bot."}]},
    "contents": [_turn("user", "What is my favorite fruit?")],
    "completions": [
        {"score": 1, "completion": _turn("model", "Apple! Apple! Apple!")},
        {"score": 0, "completion": _turn("model", "Your favorite fruit is apple.")},
    ],
}


DELETE = object()


def _with(path: str, value: Any) -> dict[str, Any]:
    """DOCUMENTED with the value at a dotted path replaced (`...=DELETE` removes it)."""
    example = copy.deepcopy(DOCUMENTED)
    *parents, last = path.split(".")
    node: Any = example
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is DELETE:
        del node[int(last) if isinstance(node, list) else last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return example


def _problems(example: Any, severity: Severity) -> list[str]:
    line = example if isinstance(example, bytes) else json.dumps(example).encode()
    result = check_preference_line(line, PREFERENCE)
    return [f"{p.field}: {p.message}" for p in result.problems if p.severity is severity]


def test_the_documented_example_has_no_problem_and_counts_the_prompt_and_the_longer_completion() -> None:
    result = check_preference_line(json.dumps(DOCUMENTED).encode(), PREFERENCE)
    assert result.problems == []
    prompt = len("You are a chat bot.") + len("What is my favorite fruit?")
    assert result.characters == prompt + len("Your favorite fruit is apple.")


def test_camel_case_system_instruction_and_a_multi_turn_prompt_ending_with_the_user_are_accepted() -> None:
    example = _with("contents", [_turn("user", "Hi"), _turn("model", "Hello"), _turn("user", "Fruit?")])
    example["systemInstruction"] = example.pop("system_instruction")
    assert _problems(example, Severity.ERROR) == [] and _problems(example, Severity.WARNING) == []


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (_with("completions", DELETE), "completions: required: two {score, completion}"),
        (_with("contents", DELETE), "contents: required: the prompt"),
        (_with("contents", []), "contents: is empty"),
        (
            _with("contents", [_turn("user", "Fruit?"), _turn("model", "Apple")]),
            'contents[1].role: "model": the prompt must end with a user turn',
        ),
        (_with("contents.0.role", "assistant"), 'contents[0].role: "assistant" is not one of user, model'),
        (
            _with("contents.0.parts", [{"fileData": {"mimeType": "image/png", "fileUri": "gs://b/a.png"}}]),
            "contents[0].parts[0].fileData: preference tuning takes text only",
        ),
        (
            _with("system_instruction.parts", [{"inlineData": {"mimeType": "text/plain", "data": "eA=="}}]),
            "system_instruction.parts[0].inlineData: preference tuning takes text only",
        ),
        (_with("completions.1", DELETE), "completions: holds 1: a pair is needed"),
        (
            _with("completions", [*DOCUMENTED["completions"], DOCUMENTED["completions"][1]]),
            "completions: holds 3: a pair is needed",
        ),
        (_with("completions.1.score", 1), "completions: both are scored 1: the pair needs one preferred"),
        (_with("completions.0.score", 0.5), "completions[0].score: 0.5 is not 0 or 1"),
        (_with("completions.0.score", True), "completions[0].score: true is not 0 or 1"),
        (_with("completions.0.score", "1"), 'completions[0].score: "1" is not 0 or 1'),
        (_with("completions.1.score", DELETE), "completions[1].score: required"),
        (_with("completions.1.completion", DELETE), "completions[1].completion: required"),
        (
            _with("completions.0.completion.role", "user"),
            'completions[0].completion.role: "user": a completion is the model\'s turn',
        ),
        (_with("completions.0.completion.parts", []), "completions[0].completion.parts: is empty"),
        (
            _with("completions.0.completion.parts", [{"functionCall": {"name": "f", "args": {}}}]),
            "completions[0].completion.parts[0].functionCall: preference tuning takes text only",
        ),
        (_with("completions", {"score": 1}), "completions: expected a list of two {score, completion}"),
        (_with("completions.0", "Apple"), "completions[0]: expected an object {score, completion}"),
        ([DOCUMENTED], ": expected a JSON object with contents[] and completions[], got a list"),
        (b'{"contents": [', ": not valid JSON"),
    ],
)
def test_each_documented_rule_is_an_error_naming_its_field(example: Any, expected: str) -> None:
    errors = _problems(example, Severity.ERROR)
    assert any(e.startswith(expected) for e in errors), errors


def test_a_score_of_one_point_zero_is_a_score_of_one() -> None:
    assert _problems(_with("completions.0.score", 1.0), Severity.ERROR) == []


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        (_with("tools", []), "tools: unknown field; Vertex AI ignores it"),
        (_with("completions.0.rank", 1), "completions[0].rank: unknown field"),
        (_with("completions.0.completion.role", DELETE), "completions[0].completion.role: missing"),
        (
            _with("completions.0.completion.parts.0.text", "  "),
            "completions[0].completion.parts[0].text: is empty",
        ),
    ],
)
def test_what_vertex_would_ignore_is_a_warning(example: dict[str, Any], expected: str) -> None:
    assert _problems(example, Severity.ERROR) == []
    assert any(w.startswith(expected) for w in _problems(example, Severity.WARNING))


def test_the_token_limit_is_on_the_prompt_plus_the_longer_completion() -> None:
    limit = PREFERENCE.max_tokens_per_example * 4
    half = limit // 2
    # Prompt and each completion at half the limit: the prompt plus the longer one is just at it.
    example = _with("contents", [_turn("user", "p" * half)])
    example.pop("system_instruction")
    example["completions"][0]["completion"] = _turn("model", "a" * half)
    example["completions"][1]["completion"] = _turn("model", "b" * half)
    assert _problems(example, Severity.WARNING) == []
    example["completions"][1]["completion"] = _turn("model", "b" * (half + 4))
    assert any(
        "over the 131072 a training example may hold" in w for w in _problems(example, Severity.WARNING)
    )


def test_preference_limits_are_their_own_table() -> None:
    assert limits_for("gemini-2.5-flash", DataFormat.PREFERENCE) is PREFERENCE
    assert limits_for("gemini-1.5-flash-002", DataFormat.PREFERENCE) is PREFERENCE
    assert PREFERENCE.max_training_examples == 10_000_000
    assert PREFERENCE.key != limits_for("gemini-2.5-flash").key  # a cached supervised verdict never applies


def _file(examples: int, role: FileRole, example: dict[str, Any] = DOCUMENTED) -> Any:
    line = json.dumps(example).encode() + b"\n"
    return check_file(
        [line * examples],
        uri=f"gs://b/{role.value}.jsonl",
        role=role,
        generation="1",
        size=len(line) * examples,
        limits=PREFERENCE,
    )


def _summary(training: int, validation: int) -> dict[str, Any]:
    return summarize(
        [_file(training, FileRole.TRAINING), _file(validation, FileRole.VALIDATION)],
        mode=PreflightMode.REQUIRED,
        strict=False,
        epochs=2,
        digest="d",
        checked="2026-12-02T00:00:00Z",
        max_problems=20,
        limits=PREFERENCE,
    )


def test_a_file_of_preference_examples_is_checked_with_the_preference_rules() -> None:
    report = _file(3, FileRole.TRAINING)
    assert (report.examples, report.errors, report.warnings) == (3, 0, 0)
    supervised_shape = {"contents": [_turn("user", "Q"), _turn("model", "A")]}
    wrong = _file(2, FileRole.TRAINING, supervised_shape)
    assert wrong.examples == 0 and wrong.errors == 4
    assert wrong.first_error is not None
    assert wrong.first_error.startswith("gs://b/training.jsonl line 1: contents[1].role")


def test_above_1000_validation_examples_they_may_be_at_most_30_percent_of_the_training_examples() -> None:
    assert _summary(3000, 1000)["result"] == "Passed"  # 1000 is allowed whatever the training count
    assert _summary(4000, 1200)["result"] == "Passed"  # 1200 is 30% of 4000
    refused = _summary(4000, 1201)
    assert refused["result"] == "Failed" and refused["errorCount"] == 1
    assert refused["message"].endswith(
        "first: gs://b/validation.jsonl: 1201 validation examples; above 1000 they may be at most 30% of the "
        "4000 training examples (1200)"
    )
