"""One line of a supervised tuning JSONL file: is it an example Vertex AI accepts, and how big is it.

The format is the one "Prepare supervised fine-tuning data for Gemini models" documents
(https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning-prepare): an object
with `contents` (required: a list of `Content`, each a `role` of "user" or "model" and a non-empty list of
`parts`), and optionally `systemInstruction` (a `Content`; its role is ignored) and `tools` (a list of
`Tool` objects, for function calling). A `Part` holds exactly one kind of data (the union field `data`:
`text`, `inlineData`, `fileData`, `functionCall`, `functionResponse`, `executableCode`,
`codeExecutionResult`); `fileData` needs `mimeType` and `fileUri`. Field names follow the proto3 JSON
mapping, so the snake_case spellings (`system_instruction`, `file_data`, ...) are accepted as well.

Errors are what would make Vertex reject the dataset; warnings are what it would accept but not learn from
as the user meant: an example over the per-example token limit (Vertex truncates or drops it: the job's
`truncatedExampleIndices` and `droppedExampleReasons`), fields it ignores, empty text. Where the docs say
nothing, the checker warns rather than errs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from controller.preflight.limits import DatasetLimits, estimate_tokens

ROLES = ("user", "model")
PART_DATA = {
    "text": "text",
    "inlineData": "inlineData",
    "inline_data": "inlineData",
    "fileData": "fileData",
    "file_data": "fileData",
    "functionCall": "functionCall",
    "function_call": "functionCall",
    "functionResponse": "functionResponse",
    "function_response": "functionResponse",
    "executableCode": "executableCode",
    "executable_code": "executableCode",
    "codeExecutionResult": "codeExecutionResult",
    "code_execution_result": "codeExecutionResult",
}
# Part fields that are not data (metadata Vertex accepts beside the one data field).
PART_METADATA = {"thought", "thoughtSignature", "thought_signature", "videoMetadata", "video_metadata"}
TOP_LEVEL = {"contents", "systemInstruction", "system_instruction", "tools"}


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    severity: Severity
    field: str  # the JSON path inside the example, "" for the line as a whole
    message: str

    def describe(self, where: str) -> str:
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass
class ExampleCheck:
    """What one line held: its problems and the text it counts towards the token limit."""

    problems: list[Problem] = field(default_factory=list)
    characters: int = 0

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.characters)

    @property
    def valid(self) -> bool:
        return not any(p.severity is Severity.ERROR for p in self.problems)

    def error(self, where: str, message: str) -> None:
        self.problems.append(Problem(Severity.ERROR, where, message))

    def warn(self, where: str, message: str) -> None:
        self.problems.append(Problem(Severity.WARNING, where, message))


# What `parse_line` returns for a line that is no JSON value (the problem is in the result already).
UNPARSED: Any = object()


def check_line(line: bytes, limits: DatasetLimits) -> ExampleCheck:
    """Check one JSONL line (without its newline) as a supervised tuning example."""
    result = ExampleCheck()
    example = parse_line(line, result)
    if example is UNPARSED:
        return result
    common = _common_shape_characters(example)
    if common is not None:
        result.characters = common
    else:
        _check_example(example, result)
    check_token_limit(result, limits)
    return result


def parse_line(line: bytes, result: ExampleCheck) -> Any:
    """The line's JSON value, or UNPARSED with the reason recorded in `result`."""
    try:
        # orjson parses (and checks the UTF-8 of) a line about 3.5 times as fast as the standard library,
        # which is most of the cost of a check: this is what keeps it near the speed of the download.
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    # The slow way only for a line orjson refuses: the standard library's message names the column, and it
    # is the judge (it also takes what orjson does not, such as integers beyond 64 bits).
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        result.error("", f"not UTF-8 text (byte {err.start + 1} of the line)")
        return UNPARSED
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        result.error("", f"not valid JSON: {err.msg} at column {err.colno}")
        return UNPARSED


def check_token_limit(result: ExampleCheck, limits: DatasetLimits) -> None:
    """Warn about a valid example whose estimated tokens are over the per-example limit."""
    if result.valid and result.tokens > limits.max_tokens_per_example:
        result.warn(
            "",
            f"about {result.tokens} tokens (estimated at 4 characters a token), over the "
            f"{limits.max_tokens_per_example} a training example may hold: Vertex AI truncates or drops it",
        )


def quick_characters(line: bytes) -> int | None:
    """The characters of a line in the common shape (see below), parsed and judged in one tight pass, with
    no result object; None for every other line, malformed ones included, which `check_line` then reads
    field by field and words. What lets a file of well-formed lines go at nearly the JSON parser's speed."""
    try:
        return _common_shape_characters(orjson.loads(line))
    except orjson.JSONDecodeError:
        return None


def _common_shape_characters(example: Any) -> int | None:
    """The characters of an example in the shape nearly every line has, checked in one tight pass: text
    turns of user and model (the last one the model's), and an optional text systemInstruction. None for
    anything else, which the full check then reads field by field. Same verdict as the full check: an
    example in this shape has no problem (the token limit is checked after either)."""
    if type(example) is not dict:
        return None
    contents = example.get("contents")
    system = example.get("systemInstruction")
    if type(contents) is not list or not contents or len(example) != (1 if system is None else 2):
        return None
    characters = 0
    role = None
    for content in contents:
        if type(content) is not dict or len(content) != 2:
            return None
        role = content.get("role")
        text = _text_characters(content.get("parts")) if role in ROLES else None
        if text is None:
            return None
        characters += text
    if role != "model":  # the last turn is the model's (so there is one)
        return None
    if system is not None:
        if type(system) is not dict or "parts" not in system or not set(system) <= {"role", "parts"}:
            return None
        text = _text_characters(system["parts"])
        if text is None:
            return None
        characters += text
    return characters


def _text_characters(parts: Any) -> int | None:
    """The characters of a non-empty list of text-only parts, none of them blank; None for anything else."""
    if type(parts) is not list or not parts:
        return None
    characters = 0
    for part in parts:
        text = part.get("text") if type(part) is dict and len(part) == 1 else None
        if type(text) is not str or not text or text.isspace():
            return None
        characters += len(text)
    return characters


def _check_example(example: Any, result: ExampleCheck) -> None:
    """The full check of one parsed line, field by field, naming each problem's field."""
    if not isinstance(example, dict):
        result.error("", f"expected a JSON object with contents[], got {kind(example)}")
        return
    for key in example:
        if key not in TOP_LEVEL:
            result.warn(
                key, "unknown field; Vertex AI ignores it (known: contents, systemInstruction, tools)"
            )
    _check_contents(example, result)
    check_system_instruction(example, result)
    tools = example.get("tools")
    if tools is not None:
        _check_tools(tools, result)


def check_turns(
    example: dict[str, Any],
    result: ExampleCheck,
    *,
    required: str,
    empty: str,
    also: Callable[[Any, str, ExampleCheck], None] | None = None,
) -> list[str | None] | None:
    """`contents`: present, a non-empty list, each turn a Content with a role (and `also` checked on each, in
    turn order). The turns' roles, or None when there are no turns to judge (the problem is recorded)."""
    if "contents" not in example:
        result.error("contents", f"required: {required}")
        return None
    contents = example["contents"]
    if not isinstance(contents, list):
        result.error("contents", f"expected a list of {{role, parts}}, got {kind(contents)}")
        return None
    if not contents:
        result.error("contents", f"is empty: {empty}")
        return None
    roles = []
    for i, content in enumerate(contents):
        roles.append(check_content(content, f"contents[{i}]", result, role_needed=True))
        if also is not None:
            also(content, f"contents[{i}]", result)
    return roles


def check_system_instruction(
    example: dict[str, Any],
    result: ExampleCheck,
    also: Callable[[Any, str, ExampleCheck], None] | None = None,
) -> None:
    """The optional `systemInstruction` (or `system_instruction`): a Content whose role is ignored."""
    system = get_either(example, "systemInstruction", "system_instruction")
    if system is None:
        return
    name = "systemInstruction" if "systemInstruction" in example else "system_instruction"
    check_content(system, name, result, role_needed=False)
    if also is not None:
        also(system, name, result)


def _check_contents(example: dict[str, Any], result: ExampleCheck) -> None:
    roles = check_turns(
        example,
        result,
        required="the conversation, a list of {role, parts}",
        empty="an example needs at least a user turn and a model turn",
    )
    if roles is not None and all(role in ROLES for role in roles):
        if "model" not in roles:
            result.error("contents", "has no model turn: there is no response to learn from")
        elif roles[-1] != "model":
            result.warn(
                f"contents[{len(roles) - 1}].role",
                "the last turn is from the user; what follows the last model turn is not learned from",
            )


def check_content(content: Any, where: str, result: ExampleCheck, *, role_needed: bool) -> str | None:
    """Check a Content (its text counts towards `result.characters`); its role when it has a valid one."""
    if not isinstance(content, dict):
        result.error(where, f"expected an object {{role, parts}}, got {kind(content)}")
        return None
    role = content.get("role")
    parts = content.get("parts")
    if (
        role in ROLES
        and len(content) == 2
        and type(parts) is list
        and parts
        and all(type(p) is dict and len(p) == 1 and type(p.get("text")) is str for p in parts)
    ):
        # The common shape (text parts only), checked in one pass; anything else takes the long way.
        for part in parts:
            text = part["text"]
            if text.strip():
                result.characters += len(text)
            else:
                result.warn(f"{where}.parts[{parts.index(part)}].text", "is empty")
        return str(role)
    if role_needed:
        if role is None:
            result.error(f"{where}.role", "required: user or model")
        elif not isinstance(role, str):
            result.error(f"{where}.role", f"expected a string (user or model), got {kind(role)}")
        elif role not in ROLES:
            result.error(f"{where}.role", f"{json.dumps(role)} is not one of user, model")
    for key in content:
        if key not in ("role", "parts"):
            result.warn(f"{where}.{key}", "unknown field of a Content (role, parts); Vertex AI ignores it")
    if "parts" not in content:
        result.error(f"{where}.parts", 'required: a list of parts such as {"text": ...}')
    else:
        parts = content["parts"]
        if not isinstance(parts, list):
            result.error(f"{where}.parts", f"expected a list of parts, got {kind(parts)}")
        elif not parts:
            result.error(f"{where}.parts", "is empty: a turn needs at least one part")
        else:
            for j, part in enumerate(parts):
                _check_part(part, f"{where}.parts[{j}]", result)
    return role if isinstance(role, str) else None


def _check_part(part: Any, where: str, result: ExampleCheck) -> None:
    if not isinstance(part, dict):
        result.error(where, f'expected an object such as {{"text": ...}}, got {kind(part)}')
        return
    data = [key for key in part if key in PART_DATA]
    unknown = [key for key in part if key not in PART_DATA and key not in PART_METADATA]
    for key in unknown:
        result.warn(f"{where}.{key}", "unknown field of a Part; Vertex AI ignores it")
    if not data:
        result.error(where, "has no data: set text, inlineData, fileData, functionCall or functionResponse")
        return
    if len(data) > 1:
        result.error(where, f"holds {' and '.join(data)}: a part carries exactly one kind of data")
        return
    key = data[0]
    _PART_CHECKS[PART_DATA[key]](part[key], f"{where}.{key}", result)


def _check_text(value: Any, where: str, result: ExampleCheck) -> None:
    if not isinstance(value, str):
        result.error(where, f"expected a string, got {kind(value)}")
    elif not value.strip():
        result.warn(where, "is empty")
    else:
        result.characters += len(value)


def _check_file_data(value: Any, where: str, result: ExampleCheck) -> None:
    if not isinstance(value, dict):
        result.error(where, f"expected an object {{mimeType, fileUri}}, got {kind(value)}")
        return
    mime = get_either(value, "mimeType", "mime_type")
    uri = get_either(value, "fileUri", "file_uri")
    if not isinstance(mime, str) or not mime:
        result.error(f"{where}.mimeType", "required: the file's MIME type, such as image/jpeg")
    if not isinstance(uri, str) or not uri:
        result.error(f"{where}.fileUri", "required: the file's gs:// URI")
    elif not uri.startswith(("gs://", "https://", "http://")):
        result.error(f"{where}.fileUri", f"{json.dumps(uri)} is not a gs:// or https:// URI")


def _check_inline_data(value: Any, where: str, result: ExampleCheck) -> None:
    if not isinstance(value, dict):
        result.error(where, f"expected an object {{mimeType, data}}, got {kind(value)}")
        return
    if not isinstance(get_either(value, "mimeType", "mime_type"), str):
        result.error(f"{where}.mimeType", "required: the data's MIME type")
    if not isinstance(value.get("data"), str):
        result.error(f"{where}.data", "required: the bytes, base64-encoded")


def _check_function_call(value: Any, where: str, result: ExampleCheck) -> None:
    if not isinstance(value, dict):
        result.error(where, f"expected an object {{name, args}}, got {kind(value)}")
        return
    if not isinstance(value.get("name"), str) or not value["name"]:
        result.error(f"{where}.name", "required: the function's name")
    args = value.get("args")
    if args is not None and not isinstance(args, dict):
        result.error(f"{where}.args", f"expected an object, got {kind(args)}")
    result.characters += len(json.dumps(value))


def _check_function_response(value: Any, where: str, result: ExampleCheck) -> None:
    if not isinstance(value, dict):
        result.error(where, f"expected an object {{name, response}}, got {kind(value)}")
        return
    if not isinstance(value.get("name"), str) or not value["name"]:
        result.error(f"{where}.name", "required: the function's name")
    if not isinstance(value.get("response"), dict):
        result.error(f"{where}.response", "required: an object holding the function's result")
    result.characters += len(json.dumps(value))


def _check_any_object(value: Any, where: str, result: ExampleCheck) -> None:
    if not isinstance(value, dict):
        result.error(where, f"expected an object, got {kind(value)}")
        return
    result.characters += len(json.dumps(value))


_PART_CHECKS: dict[str, Callable[[Any, str, ExampleCheck], None]] = {
    "text": _check_text,
    "fileData": _check_file_data,
    "inlineData": _check_inline_data,
    "functionCall": _check_function_call,
    "functionResponse": _check_function_response,
    "executableCode": _check_any_object,
    "codeExecutionResult": _check_any_object,
}


def _check_tools(tools: Any, result: ExampleCheck) -> None:
    if not isinstance(tools, list):
        result.error("tools", f"expected a list of tools, got {kind(tools)}")
        return
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            result.error(
                f"tools[{i}]", f"expected an object {{functionDeclarations: [...]}}, got {kind(tool)}"
            )
            continue
        declarations = get_either(tool, "functionDeclarations", "function_declarations")
        if declarations is None:
            continue
        if not isinstance(declarations, list):
            result.error(f"tools[{i}].functionDeclarations", f"expected a list, got {kind(declarations)}")
            continue
        for j, declaration in enumerate(declarations):
            where = f"tools[{i}].functionDeclarations[{j}]"
            if not isinstance(declaration, dict) or not isinstance(declaration.get("name"), str):
                result.error(f"{where}.name", "required: the function's name")
        result.characters += len(json.dumps(tool))


def get_either(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """A field by its proto3 JSON name or its snake_case spelling (both are accepted)."""
    return obj[camel] if camel in obj else obj.get(snake)


def kind(value: Any) -> str:
    """How a message names the JSON type of a value it did not expect."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
