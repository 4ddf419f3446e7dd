"""The line checker: every documented rule of the supervised tuning format, with the field it names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.preflight.example import Severity, check_line
from controller.preflight.limits import CURRENT, LEGACY, DatasetLimits, limits_for


def _turns(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"role": role, "parts": [{"text": text}]} for role, text in pairs]


GOOD: dict[str, Any] = {"contents": _turns(("user", "2 + 2?"), ("model", "4"))}


def _line(value: Any) -> bytes:
    return json.dumps(value).encode() if not isinstance(value, bytes) else value


def _errors(value: Any, limits: DatasetLimits = CURRENT) -> list[str]:
    result = check_line(_line(value), limits)
    return [f"{p.field}: {p.message}" for p in result.problems if p.severity is Severity.ERROR]


def _warnings(value: Any, limits: DatasetLimits = CURRENT) -> list[str]:
    result = check_line(_line(value), limits)
    return [f"{p.field}: {p.message}" for p in result.problems if p.severity is Severity.WARNING]


def test_a_documented_example_has_no_problem_and_counts_its_text() -> None:
    example = {
        "systemInstruction": {"role": "system", "parts": [{"text": "Be brief."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Describe the picture."},
                    {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://b/cat.jpg"}},
                ],
            },
            {"role": "model", "parts": [{"text": "A cat."}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "lookup", "parameters": {"type": "object"}}]}],
    }
    result = check_line(_line(example), CURRENT)
    assert result.problems == []
    assert result.valid
    text = len("Be brief.") + len("Describe the picture.") + len("A cat.")
    tools = len(json.dumps(example["tools"][0]))
    assert result.characters == text + tools
    assert result.tokens == -(-(text + tools) // 4)


def test_snake_case_field_names_are_accepted_as_the_proto_json_mapping_allows() -> None:
    example = {
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {
                "role": "user",
                "parts": [{"file_data": {"mime_type": "application/pdf", "file_uri": "gs://b/x.pdf"}}],
            },
            {"role": "model", "parts": [{"text": "Done."}]},
        ],
    }
    assert check_line(_line(example), CURRENT).problems == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"{not json", ": not valid JSON: Expecting property name enclosed in double quotes at column 2"),
        (b'{"contents": [', ": not valid JSON: Expecting value at column 15"),
        (b"\xff\xfe{}", ": not UTF-8 text"),
        ([1, 2], ": expected a JSON object with contents[], got a list"),
        ("text", ": expected a JSON object with contents[], got a string"),
        ({}, "contents: required: the conversation, a list of {role, parts}"),
        ({"messages": []}, "contents: required"),
        ({"contents": {}}, "contents: expected a list of {role, parts}, got an object"),
        ({"contents": []}, "contents: is empty"),
        ({"contents": ["hi"]}, "contents[0]: expected an object {role, parts}, got a string"),
        (
            {"contents": _turns(("user", "a"), ("assistant", "b"))},
            'contents[1].role: "assistant" is not one of user, model',
        ),
        (
            {"contents": _turns(("system", "a"), ("model", "b"))},
            'contents[0].role: "system" is not one of user, model',
        ),
        (
            {"contents": [{"parts": [{"text": "a"}]}, {"role": "model", "parts": [{"text": "b"}]}]},
            "contents[0].role: required: user or model",
        ),
        (
            {"contents": [{"role": 1, "parts": [{"text": "a"}]}]},
            "contents[0].role: expected a string (user or model), got a number",
        ),
        (
            {"contents": [{"role": "user"}, {"role": "model", "parts": [{"text": "b"}]}]},
            "contents[0].parts: required",
        ),
        (
            {"contents": [{"role": "user", "parts": []}, {"role": "model", "parts": [{"text": "b"}]}]},
            "contents[0].parts: is empty",
        ),
        (
            {"contents": [{"role": "user", "parts": "hi"}, {"role": "model", "parts": [{"text": "b"}]}]},
            "contents[0].parts: expected a list of parts, got a string",
        ),
        (
            {"contents": [{"role": "user", "parts": ["hi"]}, {"role": "model", "parts": [{"text": "b"}]}]},
            "contents[0].parts[0]: expected an object",
        ),
        (
            {"contents": [{"role": "user", "parts": [{}]}, {"role": "model", "parts": [{"text": "b"}]}]},
            "contents[0].parts[0]: has no data",
        ),
        (
            {
                "contents": [
                    {
                        "role": "user",
                        "parts": [{"text": "a", "fileData": {"mimeType": "x", "fileUri": "gs://b/c"}}],
                    },
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            },
            "contents[0].parts[0]: holds text and fileData",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"text": 5}]},
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            },
            "contents[0].parts[0].text: expected a string, got a number",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"fileData": {"fileUri": "gs://b/c"}}]},
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            },
            "contents[0].parts[0].fileData.mimeType: required",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"fileData": {"mimeType": "image/png"}}]},
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            },
            "contents[0].parts[0].fileData.fileUri: required",
        ),
        (
            {
                "contents": [
                    {
                        "role": "user",
                        "parts": [{"fileData": {"mimeType": "image/png", "fileUri": "/tmp/x.png"}}],
                    },
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            },
            'contents[0].parts[0].fileData.fileUri: "/tmp/x.png" is not a gs:// or https:// URI',
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"inlineData": {"mimeType": "image/png"}}]},
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            },
            "contents[0].parts[0].inlineData.data: required",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"text": "a"}]},
                    {"role": "model", "parts": [{"functionCall": {"args": {}}}]},
                ]
            },
            "contents[1].parts[0].functionCall.name: required",
        ),
        (
            {
                "contents": [
                    {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": "ok"}}]},
                    {"role": "model", "parts": [{"text": "b"}]},
                ]
            },
            "contents[0].parts[0].functionResponse.response: required",
        ),
        ({"contents": _turns(("user", "a"), ("user", "b"))}, "contents: has no model turn"),
        (
            {**GOOD, "systemInstruction": "Be brief."},
            "systemInstruction: expected an object {role, parts}, got a string",
        ),
        ({**GOOD, "systemInstruction": {"parts": []}}, "systemInstruction.parts: is empty"),
        ({**GOOD, "tools": {"functionDeclarations": []}}, "tools: expected a list of tools, got an object"),
        (
            {**GOOD, "tools": [{"functionDeclarations": [{"description": "x"}]}]},
            "tools[0].functionDeclarations[0].name: required",
        ),
    ],
)
def test_a_malformed_example_is_an_error_naming_its_field(line: Any, expected: str) -> None:
    errors = _errors(line)
    assert any(e.startswith(expected) for e in errors), errors


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ({**GOOD, "metadata": {"source": "x"}}, "metadata: unknown field"),
        (
            {"contents": [{"role": "user", "parts": [{"text": "a"}], "name": "x"}, GOOD["contents"][1]]},
            "contents[0].name: unknown field of a Content",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"text": "a", "lang": "en"}]}, GOOD["contents"][1]]},
            "contents[0].parts[0].lang: unknown field of a Part",
        ),
        ({"contents": _turns(("user", " "), ("model", "b"))}, "contents[0].parts[0].text: is empty"),
        (
            {"contents": _turns(("user", "a"), ("model", "b"), ("user", "c"))},
            "contents[2].role: the last turn is from the user",
        ),
    ],
)
def test_what_vertex_accepts_but_ignores_is_a_warning(line: Any, expected: str) -> None:
    assert _errors(line) == []
    warnings = _warnings(line)
    assert any(w.startswith(expected) for w in warnings), warnings


def test_an_example_over_the_token_limit_is_a_warning_with_its_estimate() -> None:
    text = "x" * (4 * CURRENT.max_tokens_per_example + 8)
    line = {"contents": _turns(("user", text), ("model", "ok"))}
    assert _errors(line) == []
    (warning,) = _warnings(line)
    assert f"about {CURRENT.max_tokens_per_example + 3} tokens" in warning
    assert f"over the {CURRENT.max_tokens_per_example} a training example may hold" in warning
    at_limit = {"contents": _turns(("user", "x" * (4 * CURRENT.max_tokens_per_example - 8)), ("model", "ok"))}
    assert _warnings(at_limit) == []


def test_older_models_have_the_smaller_documented_limits() -> None:
    assert limits_for("gemini-1.5-flash-002") is LEGACY
    assert limits_for("projects/p/locations/l/publishers/google/models/gemini-1.0-pro-002") is LEGACY
    assert limits_for("gemini-2.5-flash") is CURRENT
    assert limits_for(None) is CURRENT
    line = {"contents": _turns(("user", "x" * (4 * 40_000)), ("model", "ok"))}
    assert _warnings(line, CURRENT) == []
    assert any("over the 32000" in w for w in _warnings(line, LEGACY))


_SHAPES: list[Any] = [
    GOOD,
    {"contents": _turns(("user", "a"), ("model", "b"), ("user", "c"), ("model", "dd"))},
    {"systemInstruction": {"parts": [{"text": "Be brief."}]}, **GOOD},
    {"systemInstruction": {"role": "system", "parts": [{"text": "Be brief."}, {"text": "Really."}]}, **GOOD},
    {"contents": [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}, *_turns(("model", "c"))]},
    # Each of these leaves the common shape, and the full check must say why (or find nothing wrong).
    {"contents": _turns(("user", "a"), ("model", " "))},
    {"contents": _turns(("user", "a"), ("model", ""))},
    {"contents": _turns(("user", "a"), ("assistant", "b"))},
    {"contents": _turns(("user", "a"), ("model", "b"), ("user", "c"))},
    {"contents": _turns(("user", "a"), ("user", "b"))},
    {"contents": [{"role": "user", "parts": []}, *_turns(("model", "b"))]},
    {"contents": [{"role": "user", "parts": [{"text": 3}]}, *_turns(("model", "b"))]},
    {"contents": [{"role": "user", "parts": [{"text": "a", "thought": True}]}, *_turns(("model", "b"))]},
    {"contents": [{"role": "user", "parts": [{"text": "a"}], "x": 1}, *_turns(("model", "b"))]},
    {"contents": _turns(("user", "a"), ("model", "b")), "extra": 1},
    {"contents": _turns(("user", "a"), ("model", "b")), "systemInstruction": {"parts": []}},
    {"contents": _turns(("user", "a"), ("model", "b")), "systemInstruction": {"parts": [{"text": ""}]}},
    {"contents": _turns(("user", "a"), ("model", "b")), "systemInstruction": {"parts": [], "x": 1}},
    {"contents": _turns(("user", "a"), ("model", "b")), "system_instruction": {"parts": [{"text": "s"}]}},
    {"contents": []},
    {"contents": "no"},
    [GOOD],
]


@pytest.mark.parametrize("example", _SHAPES)
def test_the_common_shape_pass_gives_the_full_checks_verdict(example: Any) -> None:
    """Most lines are checked by one tight pass; it must never accept what the field-by-field check would
    say something about, and must count the same characters."""
    from controller.preflight.example import ExampleCheck, _check_example, _common_shape_characters

    full = ExampleCheck()
    _check_example(example, full)
    fast = _common_shape_characters(example)
    if fast is not None:
        assert full.problems == [] and fast == full.characters
    checked = check_line(_line(example), CURRENT)
    assert checked.problems == full.problems and checked.characters == full.characters


def test_most_shapes_above_take_the_tight_pass() -> None:
    from controller.preflight.example import _common_shape_characters

    taken = [example for example in _SHAPES if _common_shape_characters(example) is not None]
    assert taken == _SHAPES[:5]


def test_a_file_checked_with_the_tight_pass_gives_the_report_of_the_full_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`check_file` takes the tight pass for most lines and no result object: the report (counts, tokens,
    the largest example, every problem) must be the one the full check of every line gives."""
    from controller.preflight import dataset

    over_limit = {"contents": _turns(("user", "x" * (4 * 131_072)), ("model", "ok"))}
    lines = [*_SHAPES, over_limit, b"{not json", *_SHAPES[:3]]
    data = b"".join(_line(example) + b"\n" for example in lines)

    def report() -> dataset.FileReport:
        return dataset.check_file(
            [data], uri="gs://b/t.jsonl", role=dataset.FileRole.TRAINING, generation="1", size=len(data),
            limits=CURRENT,
        )  # fmt: skip

    quick = report()
    monkeypatch.setattr(dataset, "QUICK_CHECKS", {})
    full = report()
    assert quick == full
    assert quick.examples > 8 and quick.errors > 5 and quick.largest_line == len(_SHAPES) + 1
