"""One line of a preference tuning JSONL file: is it an example Vertex AI accepts, and how big is it.

The format is the one "Prepare preference tuning data for Gemini models" documents
(https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-preference-tuning-prepare), with the
limits of "About preference tuning for Gemini models" (see `limits.py`):
- `contents` (required): the prompt, in the supervised format (a list of `{role, parts}`, role user or
  model), text only ("It doesn't support multi-modal data"), ending with a user turn;
- `system_instruction` (optional, also spelled `systemInstruction`): a Content, text only;
- `completions` (required): exactly two `{score, completion}`, one preferred (score 1) and one dispreferred
  (score 0); a completion is a single model turn. "The sum of maximum input and maximum completion token
  counts must be <= 128K", so an example's size is its prompt plus its longer completion.

As for supervised data, errors are what would make Vertex reject the dataset and warnings what it accepts
but would not learn from as meant; where the docs say nothing (a completion without a role) it warns.
"""

from __future__ import annotations

import json
from typing import Any

from controller.preflight.example import (
    PART_DATA,
    UNPARSED,
    ExampleCheck,
    check_content,
    check_system_instruction,
    check_token_limit,
    check_turns,
    kind,
    parse_line,
)
from controller.preflight.limits import DatasetLimits

TOP_LEVEL = {"contents", "systemInstruction", "system_instruction", "completions"}
COMPLETION_FIELDS = {"score", "completion"}
PAIR = "one preferred (score 1) and one dispreferred (score 0)"
# Data a Part may carry in supervised tuning that preference tuning does not take.
NON_TEXT_DATA = frozenset(key for key, data in PART_DATA.items() if data != "text")


def check_preference_line(line: bytes, limits: DatasetLimits) -> ExampleCheck:
    """Check one JSONL line (without its newline) as a preference tuning example."""
    result = ExampleCheck()
    example = parse_line(line, result)
    if example is UNPARSED:
        return result
    _check_example(example, result)
    check_token_limit(result, limits)
    return result


def _check_example(example: Any, result: ExampleCheck) -> None:
    if not isinstance(example, dict):
        result.error("", f"expected a JSON object with contents[] and completions[], got {kind(example)}")
        return
    for key in example:
        if key not in TOP_LEVEL:
            result.warn(
                key,
                "unknown field; Vertex AI ignores it (known: contents, system_instruction, completions)",
            )
    _check_prompt(example, result)
    check_system_instruction(example, result, also=_text_only)
    _check_completions(example, result)


def _check_prompt(example: dict[str, Any], result: ExampleCheck) -> None:
    roles = check_turns(
        example,
        result,
        required="the prompt, a list of {role, parts} ending with a user turn",
        empty="the prompt needs at least one user turn",
        also=_text_only,
    )
    if roles is None:
        return
    if roles[-1] == "model":
        result.error(
            f"contents[{len(roles) - 1}].role",
            '"model": the prompt must end with a user turn (the completions are the model\'s answers)',
        )


def _check_completions(example: dict[str, Any], result: ExampleCheck) -> None:
    if "completions" not in example:
        result.error(
            "completions", "required: two {score, completion}, one scored 1 (preferred) and one scored 0"
        )
        return
    completions = example["completions"]
    if not isinstance(completions, list):
        result.error("completions", f"expected a list of two {{score, completion}}, got {kind(completions)}")
        return
    if len(completions) != 2:
        result.error(
            "completions",
            f"holds {len(completions)}: a pair is needed, {PAIR}",
        )
        return
    checked = [_check_completion(c, f"completions[{i}]", result) for i, c in enumerate(completions)]
    # The limit is on the prompt plus the longer completion; that is the example's size.
    result.characters += max(characters for _score, characters in checked)
    scores = [score for score, _characters in checked]
    if None not in scores and sorted(scores) != [0, 1]:  # type: ignore[type-var]
        result.error(
            "completions",
            f"both are scored {scores[0]}: the pair needs {PAIR}",
        )


def _check_completion(item: Any, where: str, result: ExampleCheck) -> tuple[int | None, int]:
    """Check one `{score, completion}`: its score when valid, and the characters of its text."""
    if not isinstance(item, dict):
        result.error(where, f"expected an object {{score, completion}}, got {kind(item)}")
        return None, 0
    for key in item:
        if key not in COMPLETION_FIELDS:
            result.warn(f"{where}.{key}", "unknown field; Vertex AI ignores it (known: score, completion)")
    score = item.get("score")
    valid_score: int | None = None
    if "score" not in item:
        result.error(f"{where}.score", "required: 1 for the preferred completion, 0 for the dispreferred")
    elif isinstance(score, bool) or not isinstance(score, int | float) or score not in (0, 1):
        result.error(f"{where}.score", f"{json.dumps(score)} is not 0 or 1 (the only values it may take)")
    else:
        valid_score = int(score)
    if "completion" not in item:
        result.error(f"{where}.completion", 'required: the model\'s turn, {"role": "model", "parts": [...]}')
        return valid_score, 0
    completion = item["completion"]
    answer = ExampleCheck()  # its own count: only the longer completion counts towards the example
    check_content(completion, f"{where}.completion", answer, role_needed=False)
    _text_only(completion, f"{where}.completion", answer)
    result.problems.extend(answer.problems)
    if isinstance(completion, dict):
        if "role" not in completion:
            result.warn(f"{where}.completion.role", 'missing: a completion is the model\'s turn ("model")')
        elif completion["role"] != "model":
            result.error(
                f"{where}.completion.role",
                f'{json.dumps(completion["role"])}: a completion is the model\'s turn, role "model"',
            )
    return valid_score, answer.characters


def _text_only(content: Any, where: str, result: ExampleCheck) -> None:
    """Preference tuning takes text only: an error for each part that carries other data."""
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        return
    for j, part in enumerate(content["parts"]):
        if isinstance(part, dict):
            for key in part:
                if key in NON_TEXT_DATA:
                    result.error(f"{where}.parts[{j}].{key}", "preference tuning takes text only")
