"""The training examples of a `TunedModel`, inline or from a ConfigMap holding JSONL.

They are read when the model is about to be created (and checked before the create intent is recorded), so a
bad line stalls the resource with the ConfigMap, key and line number instead of failing at Google with an
index into a request the user never sees.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from controller.api.conditions import Reason
from controller.api.tunedmodel import TrainingData, TuningExample
from controller.backends.kube_refs import ObjectReader, read_config_map_key
from controller.external import SpecError

FIELD = "spec.tuningTask.trainingData"
_ALIASES = {"text_input": "textInput"}


def training_examples(data: TrainingData, namespace: str, reader: ObjectReader) -> list[dict[str, str]]:
    """The examples as the Gemini API takes them: `[{"textInput": ..., "output": ...}, ...]`."""
    if data.examples is not None:
        return [{"textInput": e.text_input, "output": e.output} for e in data.examples]
    ref = data.config_map_ref
    if ref is None:  # the model's one-of rule makes this unreachable for a validated spec
        raise SpecError(Reason.INVALID_SPEC, f"{FIELD}: set examples or configMapRef")
    field = f"{FIELD}.configMapRef"
    text = read_config_map_key(reader, namespace, ref.name, ref.key, field)
    return parse_jsonl(text, f"{field}: ConfigMap {ref.name} key {ref.key}")


def parse_jsonl(text: str, where: str) -> list[dict[str, str]]:
    """One `{"textInput", "output"}` object per non-blank line; the first bad line is a SpecError."""
    examples: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        examples.append(_example(line, f"{where} line {number}"))
    if not examples:
        raise SpecError(Reason.INVALID_SPEC, f"{where}: holds no examples (one JSON object per line)")
    return examples


def _example(line: str, where: str) -> dict[str, str]:
    try:
        raw: Any = json.loads(line)
    except json.JSONDecodeError as err:
        raise SpecError(
            Reason.INVALID_SPEC, f"{where}: not valid JSON ({err.msg} at column {err.colno})"
        ) from err
    if not isinstance(raw, dict):
        raise SpecError(
            Reason.INVALID_SPEC, f'{where}: expected an object {{"textInput": ..., "output": ...}}'
        )
    fields = {_ALIASES.get(k, k): v for k, v in raw.items()}
    try:
        example = TuningExample.model_validate(fields)
    except ValidationError as err:
        first = err.errors()[0]
        name = ".".join(str(p) for p in first["loc"]) or "example"
        raise SpecError(Reason.INVALID_SPEC, f"{where}: {name}: {first['msg']}") from err
    return {"textInput": example.text_input, "output": example.output}
