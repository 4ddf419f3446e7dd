"""Gemini API v1beta tuned models and their creation operations.

As with Vertex jobs, a model keeps only its input and a few numbers fixed at creation; its state,
snapshots and operation are computed from the simulated clock when read. `trainingData` is input only: it
is counted at creation and never stored or returned.
"""

from __future__ import annotations

import math
import random
import re
import string
import threading
from dataclasses import dataclass, field
from typing import Any

from emulator.apierror import ApiError, failed_precondition, invalid_argument, not_found, rpc_status
from emulator.clock import SimClock, rfc3339
from emulator.config import EmulatorConfig
from emulator.faults import JobFailures
from emulator.paging import decode_token, encode_token, page_size

CREATING = "CREATING"
ACTIVE = "ACTIVE"
FAILED = "FAILED"
METADATA_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.CreateTunedModelMetadata"
MODEL_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.TunedModel"
TUNABLE_BASE_MODELS = ("models/gemini-1.0-pro-001", "models/gemini-1.5-flash-001-tuning")
PATCHABLE = ("displayName", "description", "temperature", "topP", "topK", "readerProjectNumbers")
ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
DEFAULTS = {"temperature": 1.0, "topP": 0.95, "topK": 64}


@dataclass(slots=True)
class GeminiModel:
    seq: int
    model_id: str
    operation_id: str
    created: float
    updated: float
    fields: dict[str, Any]
    base_model: str | None
    source: str | None
    hyperparameters: dict[str, Any]
    example_count: int
    total_steps: int
    step_seconds: float
    fail_at_step: int | None = None
    fail_message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"tunedModels/{self.model_id}"

    @property
    def operation(self) -> str:
        return f"{self.name}/operations/{self.operation_id}"


def model_phase(model: GeminiModel, now: float) -> tuple[str, int, float | None]:
    """(state, completed steps, completion time) at `now`."""
    done = min(model.total_steps, int(max(0.0, now - model.created) / model.step_seconds))
    if model.fail_at_step is not None and done >= model.fail_at_step:
        return FAILED, model.fail_at_step, model.created + model.fail_at_step * model.step_seconds
    if done >= model.total_steps:
        return ACTIVE, model.total_steps, model.created + model.total_steps * model.step_seconds
    return CREATING, done, None


def _snapshots(model: GeminiModel, steps: int) -> list[dict[str, Any]]:
    per_epoch = max(1, math.ceil(model.example_count / int(model.hyperparameters["batchSize"])))
    out = []
    for step in range(1, steps + 1):
        progress = step / model.total_steps
        wobble = ((step * 2654435761 + model.seq * 40503) % 1000) / 1000.0 - 0.5
        out.append(
            {
                "step": step,
                "epoch": (step - 1) // per_epoch + 1,
                "meanLoss": round(0.2 + 2.3 * math.exp(-3.0 * progress) + 0.05 * wobble, 6),
                "computeTime": rfc3339(model.created + step * model.step_seconds),
            }
        )
    return out


def render_model(model: GeminiModel, now: float) -> dict[str, Any]:
    state, steps, completed = model_phase(model, now)
    out: dict[str, Any] = {"name": model.name}
    if model.source is not None:
        out["tunedModelSource"] = {"tunedModel": model.source, "baseModel": model.base_model}
    elif model.base_model:
        out["baseModel"] = model.base_model
    for key in ("displayName", "description"):
        if model.fields.get(key):
            out[key] = model.fields[key]
    for key, default in DEFAULTS.items():
        out[key] = model.fields.get(key, default)
    out["state"] = state
    out["createTime"] = rfc3339(model.created)
    out["updateTime"] = rfc3339(max(model.updated, completed or model.created))
    task: dict[str, Any] = {"startTime": rfc3339(model.created)}
    if completed is not None:
        task["completeTime"] = rfc3339(completed)
    if steps:
        task["snapshots"] = _snapshots(model, steps)
    task["hyperparameters"] = dict(model.hyperparameters)
    out["tuningTask"] = task
    if model.fields.get("readerProjectNumbers"):
        out["readerProjectNumbers"] = [str(n) for n in model.fields["readerProjectNumbers"]]
    return out


def render_operation(model: GeminiModel, now: float) -> dict[str, Any]:
    """The LRO: no `done` while running (proto3 leaves out false), then `done` with `response` or `error`."""
    state, steps, _ = model_phase(model, now)
    metadata: dict[str, Any] = {
        "@type": METADATA_TYPE,
        "totalSteps": model.total_steps,
        "tunedModel": model.name,
    }
    if steps:
        metadata["completedSteps"] = steps
        metadata["completedPercent"] = round(100.0 * steps / model.total_steps, 4)
        metadata["snapshots"] = _snapshots(model, steps)
    out: dict[str, Any] = {"name": model.operation, "metadata": metadata}
    if state == ACTIVE:
        out["done"] = True
        out["response"] = {"@type": MODEL_TYPE, **render_model(model, now)}
    elif state == FAILED:
        out["done"] = True
        out["error"] = rpc_status("INTERNAL", model.fail_message)
    return out


class GeminiModels:
    """Every tuned model of the emulator; thread-safe."""

    def __init__(
        self, config: EmulatorConfig, clock: SimClock, rng: random.Random, failures: JobFailures
    ) -> None:
        self._config = config
        self._clock = clock
        self._rng = rng
        self._failures = failures
        self._lock = threading.Lock()
        self._models: dict[str, GeminiModel] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._models)

    def create(self, body: Any, tuned_model_id: str | None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received. The request body must be a TunedModel.")
        if tuned_model_id is not None and not ID_RE.match(tuned_model_id):
            raise invalid_argument(
                f"tuned_model_id {tuned_model_id!r} is invalid: "
                "it must match [a-z]([a-z0-9-]{0,38}[a-z0-9])?.",
                "tuned_model_id",
            )
        fields_in = _validated_fields(body)
        base_model, source = self._source(body)
        task = body.get("tuningTask")
        if not isinstance(task, dict):
            raise invalid_argument("tuning_task is required.", "tuned_model.tuning_task")
        examples = _training_examples(task)
        hyper = _hyperparameters(task.get("hyperparameters"))
        total = self._config.gemini_total_steps or max(
            1, math.ceil(examples * hyper["epochCount"] / hyper["batchSize"])
        )
        with self._lock:
            if tuned_model_id is None:
                tuned_model_id = self._generated_id(str(fields_in.get("displayName") or ""))
            elif tuned_model_id in self._models:
                # API-NOTES §D.3 leaves the duplicate case unconfirmed; ALREADY_EXISTS is the AIP-133 answer.
                raise ApiError("ALREADY_EXISTS", f"Tuned model tunedModels/{tuned_model_id} already exists.")
            self._seq += 1
            now = self._clock.now()
            model = GeminiModel(
                seq=self._seq,
                model_id=tuned_model_id,
                operation_id="".join(self._rng.choices(string.ascii_lowercase + string.digits, k=12)),
                created=now,
                updated=now,
                fields=fields_in,
                base_model=base_model,
                source=source,
                hyperparameters=hyper,
                example_count=examples,
                total_steps=total,
                step_seconds=max(self._config.gemini_step_seconds, 1e-6),
            )
            rule = self._failures.decide("gemini", str(fields_in.get("displayName") or ""))
            if rule is not None:
                model.fail_at_step = max(1, min(total, round(total * rule.at_fraction)))
                model.fail_message = rule.message
            self._models[tuned_model_id] = model
        return render_operation(model, now)

    def _generated_id(self, display_name: str) -> str:
        suffix_chars = string.ascii_lowercase + string.digits
        slug = re.sub(r"[^a-z0-9]+", "-", display_name.lower()).strip("-")
        slug = re.sub(r"^[^a-z]+", "", slug)[:33].strip("-")
        while True:
            suffix = "".join(self._rng.choices(suffix_chars, k=5 if slug else 12))
            candidate = f"{slug}-{suffix}" if slug else f"m{suffix}"
            if candidate not in self._models:
                return candidate

    def _source(self, body: dict[str, Any]) -> tuple[str | None, str | None]:
        source = body.get("tunedModelSource")
        if source:
            name = source.get("tunedModel") if isinstance(source, dict) else None
            parent = self._models.get(str(name).removeprefix("tunedModels/")) if name else None
            if parent is None:
                raise invalid_argument(
                    f"Tuned model source {name!r} does not exist.", "tuned_model_source.tuned_model"
                )
            return parent.base_model, parent.name
        base = body.get("baseModel")
        if base not in TUNABLE_BASE_MODELS:
            raise invalid_argument(
                f"Base model {base!r} is not supported for tuning. "
                f"Supported: {', '.join(TUNABLE_BASE_MODELS)}.",
                "tuned_model.base_model",
            )
        return str(base), None

    def find(self, model_id: str) -> GeminiModel:
        model = self._models.get(model_id)
        if model is None:
            raise not_found(f"Tuned model tunedModels/{model_id} does not exist.")
        return model

    def get(self, model_id: str) -> dict[str, Any]:
        return render_model(self.find(model_id), self._clock.now())

    def get_operation(self, model_id: str, operation_id: str) -> dict[str, Any]:
        model = self.find(model_id)
        if model.operation_id != operation_id:
            raise not_found(f"Operation tunedModels/{model_id}/operations/{operation_id} does not exist.")
        return render_operation(model, self._clock.now())

    def list_operations(self, model_id: str) -> dict[str, Any]:
        model = self.find(model_id)
        return {"operations": [render_operation(model, self._clock.now())]}

    def list_models(self, *, filter: str | None, size: str | None, token: str | None) -> dict[str, Any]:
        words = _filter_words(filter or "")
        limit = page_size(size, 10, 1000)
        after = decode_token(token) if token else 0
        with self._lock:
            models = [m for m in self._models.values() if m.seq > after]
        now = self._clock.now()
        page: list[GeminiModel] = []
        more = False
        for model in models:
            text = f"{model.fields.get('displayName', '')} {model.fields.get('description', '')}".lower()
            if all(word in text for word in words):
                if len(page) == limit:
                    more = True
                    break
                page.append(model)
        out: dict[str, Any] = {}
        if page:
            out["tunedModels"] = [render_model(m, now) for m in page]
        if more:
            out["nextPageToken"] = encode_token(page[-1].seq)
        return out

    def patch(self, model_id: str, body: Any, update_mask: str | None) -> dict[str, Any]:
        model = self.find(model_id)
        if not isinstance(body, dict):
            raise invalid_argument("Invalid JSON payload received. The request body must be a TunedModel.")
        if update_mask:
            paths = [_camel(p.strip()) for p in update_mask.split(",") if p.strip()]
            for path in paths:
                if path not in PATCHABLE:
                    raise invalid_argument(
                        f'Invalid update mask path: "{path}". Updatable fields: {", ".join(PATCHABLE)}.',
                        "update_mask",
                    )
        else:
            paths = [p for p in PATCHABLE if p in body]
        changes = _validated_fields({p: body.get(p) for p in paths if body.get(p) is not None})
        with self._lock:
            for path in paths:
                if path in changes:
                    model.fields[path] = changes[path]
                else:
                    model.fields.pop(path, None)
            model.updated = self._clock.now()
        return render_model(model, self._clock.now())

    def delete(self, model_id: str) -> dict[str, Any]:
        with self._lock:
            if self._models.pop(model_id, None) is None:
                raise not_found(f"Tuned model tunedModels/{model_id} does not exist.")
        return {}

    def require_active(self, model_id: str) -> GeminiModel:
        model = self.find(model_id)
        state = model_phase(model, self._clock.now())[0]
        if state != ACTIVE:
            raise failed_precondition(
                f"Tuned model tunedModels/{model_id} is not ready: its state is {state}."
            )
        return model


def _validated_fields(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    display = body.get("displayName")
    if display is not None:
        if not isinstance(display, str) or len(display) > 40:
            raise invalid_argument("display_name must be at most 40 characters.", "tuned_model.display_name")
        out["displayName"] = display
    if body.get("description") is not None:
        out["description"] = str(body["description"])
    for key, low, high in (("temperature", 0.0, 2.0), ("topP", 0.0, 1.0)):
        value = body.get(key)
        if value is not None:
            if not isinstance(value, int | float) or not low <= value <= high:
                raise invalid_argument(
                    f"{key} must be a number between {low} and {high}.", f"tuned_model.{key}"
                )
            out[key] = float(value)
    top_k = body.get("topK")
    if top_k is not None:
        if not isinstance(top_k, int) or top_k < 0:
            raise invalid_argument("top_k must be a non-negative integer.", "tuned_model.top_k")
        out["topK"] = top_k
    readers = body.get("readerProjectNumbers")
    if readers is not None:
        if not isinstance(readers, list) or not all(str(r).isdigit() for r in readers):
            raise invalid_argument(
                "reader_project_numbers must be a list of project numbers.",
                "tuned_model.reader_project_numbers",
            )
        out["readerProjectNumbers"] = [str(r) for r in readers]
    return out


def _training_examples(task: dict[str, Any]) -> int:
    data = task.get("trainingData")
    outer = data.get("examples") if isinstance(data, dict) else None
    examples = outer.get("examples") if isinstance(outer, dict) else None
    if not isinstance(examples, list) or not examples:
        raise invalid_argument(
            "tuning_task.training_data.examples.examples must contain at least one example.",
            "tuned_model.tuning_task.training_data",
        )
    for index, example in enumerate(examples):
        if not isinstance(example, dict) or not example.get("output"):
            raise invalid_argument(
                f"Example {index} has no output.",
                f"tuned_model.tuning_task.training_data.examples[{index}].output",
            )
    return len(examples)


def _hyperparameters(raw: Any) -> dict[str, Any]:
    hyper = raw if isinstance(raw, dict) else {}
    if hyper.get("learningRate") is not None and hyper.get("learningRateMultiplier") is not None:
        raise invalid_argument(
            "Only one of learning_rate and learning_rate_multiplier may be set.",
            "tuning_task.hyperparameters",
        )
    out: dict[str, Any] = {}
    for key, default in (("epochCount", 5), ("batchSize", 4)):
        value = hyper.get(key, default)
        if not isinstance(value, int) or value < 1:
            raise invalid_argument(f"{key} must be a positive integer.", f"tuning_task.hyperparameters.{key}")
        out[key] = value
    if hyper.get("learningRateMultiplier") is not None:
        out["learningRateMultiplier"] = float(hyper["learningRateMultiplier"])
    else:
        out["learningRate"] = float(hyper.get("learningRate", 0.001))
    return out


def _filter_words(text: str) -> list[str]:
    """Full-text words; the ownership terms (`owner:me`, `readers:everyone`, ...) do not narrow here, where
    every model belongs to the caller."""
    words = []
    for word in text.lower().split():
        if ":" in word:
            key = word.split(":", 1)[0]
            if key not in ("owner", "writers", "readers"):
                raise invalid_argument(f'Unsupported filter term "{word}".', "filter")
            continue
        words.append(word)
    return words


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)
