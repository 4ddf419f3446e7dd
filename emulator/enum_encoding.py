"""Enums as numbers: what `$alt=json;enum-encoding=int` asks of a Vertex AI REST answer, and how requests
may spell them.

Facts relied on:
- proto3 JSON mapping (protobuf.dev/programming-guides/json): an enum is written as its value's name, and a
  parser accepts the name or the integer. So Vertex takes `"adapterSize": 2` in any request.
- System parameter `$alt=json;enum-encoding=int` (cloud.google.com/apis/docs/system-parameters; googleapis
  AIP-4222 REST transports): the answer writes enums as integers. The REST transport of the generated
  clients (google-cloud-aiplatform, `transports/rest.py`) sends it on every call, and sends its enums as
  integers too.
- The numbers are the proto's (googleapis `google/cloud/aiplatform/v1beta1/*.proto`, as generated into
  google-cloud-aiplatform 2.7 `aiplatform_v1beta1/types`): JobState in job_state.proto, AdapterSize
  (note TWO = 6, added after the others) and TuningMode in tuning_job.proto, FinishReason in content.proto,
  ValueType in tensorboard_time_series.proto, TrafficType in content.proto (UsageMetadata).

Enums are found by field name: among the Vertex resources the emulator serves each of these names holds one
enum type. Error bodies (`error.status`) are not enum fields of a message and stay names, as Google sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_JOB_STATE = {
    "JOB_STATE_UNSPECIFIED": 0,
    "JOB_STATE_QUEUED": 1,
    "JOB_STATE_PENDING": 2,
    "JOB_STATE_RUNNING": 3,
    "JOB_STATE_SUCCEEDED": 4,
    "JOB_STATE_FAILED": 5,
    "JOB_STATE_CANCELLING": 6,
    "JOB_STATE_CANCELLED": 7,
    "JOB_STATE_PAUSED": 8,
    "JOB_STATE_EXPIRED": 9,
    "JOB_STATE_UPDATING": 10,
    "JOB_STATE_PARTIALLY_SUCCEEDED": 11,
}
_ADAPTER_SIZE = {
    "ADAPTER_SIZE_UNSPECIFIED": 0,
    "ADAPTER_SIZE_ONE": 1,
    "ADAPTER_SIZE_FOUR": 2,
    "ADAPTER_SIZE_EIGHT": 3,
    "ADAPTER_SIZE_SIXTEEN": 4,
    "ADAPTER_SIZE_THIRTY_TWO": 5,
    "ADAPTER_SIZE_TWO": 6,
}
_TUNING_MODE = {"TUNING_MODE_UNSPECIFIED": 0, "TUNING_MODE_FULL": 1, "TUNING_MODE_PEFT_ADAPTER": 2}
_FINISH_REASON = {
    "FINISH_REASON_UNSPECIFIED": 0,
    "STOP": 1,
    "MAX_TOKENS": 2,
    "SAFETY": 3,
    "RECITATION": 4,
    "OTHER": 5,
    "BLOCKLIST": 6,
    "PROHIBITED_CONTENT": 7,
    "SPII": 8,
    "MALFORMED_FUNCTION_CALL": 9,
    "MODEL_ARMOR": 10,
}
_TRAFFIC_TYPE = {"TRAFFIC_TYPE_UNSPECIFIED": 0, "ON_DEMAND": 1, "PROVISIONED_THROUGHPUT": 2}
_VALUE_TYPE = {"VALUE_TYPE_UNSPECIFIED": 0, "SCALAR": 1, "TENSOR": 2, "BLOB_SEQUENCE": 3}
# v1beta1 TuningJob.TuningJobState: no generated client has it yet, so the numbers are the order of the
# values in the discovery document aiplatform.v1beta1.json (unconfirmed against the proto).
_TUNING_JOB_STATE = {
    "TUNING_JOB_STATE_UNSPECIFIED": 0,
    "TUNING_JOB_STATE_WAITING_FOR_QUOTA": 1,
    "TUNING_JOB_STATE_PROCESSING_DATASET": 2,
    "TUNING_JOB_STATE_WAITING_FOR_CAPACITY": 3,
    "TUNING_JOB_STATE_TUNING": 4,
    "TUNING_JOB_STATE_POST_PROCESSING": 5,
}

#: JSON field name -> {enum value name: number}, for the Vertex messages the emulator serves.
VERTEX_ENUMS: dict[str, dict[str, int]] = {
    "state": _JOB_STATE,
    "adapterSize": _ADAPTER_SIZE,
    "tuningMode": _TUNING_MODE,
    "finishReason": _FINISH_REASON,
    "trafficType": _TRAFFIC_TYPE,
    "valueType": _VALUE_TYPE,
    "tuningJobState": _TUNING_JOB_STATE,
}
_NAMES: dict[str, dict[int, str]] = {
    field: {number: name for name, number in values.items()} for field, values in VERTEX_ENUMS.items()
}
#: Maps whose keys are user data, never field names.
_USER_MAPS = frozenset({"labels", "metadata"})


def int_enums_requested(query: Mapping[str, list[str]]) -> bool:
    """Whether the request asked for `enum-encoding=int` (in `$alt`, as the generated clients send it)."""
    return any("enum-encoding=int" in value.replace(" ", "") for value in query.get("$alt", []))


def enum_names(value: Any) -> Any:
    """A request body with every integer enum written as its name (unknown numbers are left as they are)."""
    return _convert(value, lambda field, item: _NAMES[field].get(item, item) if _is_int(item) else item)


def enum_numbers(value: Any) -> Any:
    """An answer with every enum name written as its number (names without a number stay names)."""
    return _convert(
        value, lambda field, item: VERTEX_ENUMS[field].get(item, item) if isinstance(item, str) else item
    )


def _is_int(item: Any) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def _convert(value: Any, change: Any) -> Any:
    if isinstance(value, list):
        return [_convert(item, change) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = _camel(key)  # requests may use snake_case field names
        if field in _USER_MAPS:
            out[key] = item
        elif field in VERTEX_ENUMS and not isinstance(item, dict | list):
            out[key] = change(field, item)
        else:
            out[key] = _convert(item, change)
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
