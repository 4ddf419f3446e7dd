"""One file checked as a whole: counts, token totals, the largest example, and the file-level limits."""

from __future__ import annotations

import json
from collections.abc import Iterator

from controller.preflight.dataset import FileRole, check_file
from controller.preflight.limits import CURRENT, DatasetLimits


def _example(text: str = "hello") -> str:
    return json.dumps(
        {
            "contents": [
                {"role": "user", "parts": [{"text": text}]},
                {"role": "model", "parts": [{"text": "ok"}]},
            ]
        }
    )


def _check(text: str, role: FileRole = FileRole.TRAINING, limits: DatasetLimits = CURRENT, size: int = 0):  # type: ignore[no-untyped-def]
    data = text.encode()
    return check_file(
        [data[i : i + 7] for i in range(0, len(data), 7)],
        uri="gs://b/train.jsonl",
        role=role,
        generation="1",
        size=size or len(data),
        limits=limits,
    )


def test_counts_tokens_and_the_largest_example() -> None:
    report = _check("".join(_example("x" * n) + "\n" for n in (4, 40, 8)))
    assert (report.examples, report.lines, report.errors, report.warnings) == (3, 3, 0, 0)
    assert report.tokens == sum(-(-(n + 2) // 4) for n in (4, 40, 8))
    assert (report.largest_line, report.largest_tokens) == (2, 11)


def test_problems_name_file_line_and_field_and_only_valid_lines_count() -> None:
    bad = json.dumps({"contents": [{"role": "assistant", "parts": [{"text": "a"}]}]})
    report = _check(_example() + "\n\nnot json\n" + bad + "\n")
    assert report.examples == 1
    assert report.errors == 2 and report.warnings == 1
    assert report.problems == [
        "warning: gs://b/train.jsonl line 2: blank line",
        "error: gs://b/train.jsonl line 3: not valid JSON: Expecting value at column 1",
        'error: gs://b/train.jsonl line 4: contents[0].role: "assistant" is not one of user, model',
    ]
    assert report.first_error == "gs://b/train.jsonl line 3: not valid JSON: Expecting value at column 1"


def test_a_validation_file_over_5000_examples_is_an_error_at_the_first_one_too_many() -> None:
    report = _check("".join(_example() + "\n" for _ in range(5001)), role=FileRole.VALIDATION)
    assert report.examples == 5001
    assert report.problems == [
        "error: gs://b/train.jsonl line 5001: example 5001 is over the 5000 examples a validation dataset "
        "may hold"
    ]
    assert _check("".join(_example() + "\n" for _ in range(5000)), role=FileRole.VALIDATION).errors == 0


def test_a_file_over_the_size_limit_is_an_error_and_not_read() -> None:
    def never() -> Iterator[bytes]:
        raise AssertionError("a file over the limit was read")
        yield b""

    report = check_file(
        never(),
        uri="gs://b/train.jsonl",
        role=FileRole.TRAINING,
        generation="1",
        size=CURRENT.max_file_bytes + 1,
        limits=CURRENT,
    )
    assert report.errors == 1 and report.examples == 0
    limit = CURRENT.max_file_bytes
    assert report.problems[0].startswith(
        f"error: gs://b/train.jsonl: {limit + 1} bytes is over the {limit} bytes"
    )


def test_an_empty_file_and_an_enormous_line_are_errors() -> None:
    assert _check("").problems == ["error: gs://b/train.jsonl: holds no examples (one JSON object per line)"]
    small = DatasetLimits(max_tokens_per_example=10)  # lines over 10 * 32 bytes are not even read
    report = _check(_example("x" * 400) + "\n" + _example() + "\n", limits=small)
    assert report.examples == 1
    assert report.problems[0].startswith("error: gs://b/train.jsonl line 1: ")
    assert "bytes on one line" in report.problems[0]


def test_only_the_first_problems_are_kept_but_all_are_counted() -> None:
    report = check_file(
        [b"x\n" * 100],
        uri="gs://b/t",
        role=FileRole.TRAINING,
        generation="1",
        size=200,
        limits=CURRENT,
        max_problems=5,
    )
    assert report.errors == 100 and len(report.problems) == 5
