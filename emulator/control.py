"""The emulator's own control API under `/_emulator/`: clock, settings, faults, job failures, request log,
Cloud Storage objects.

Tests in other processes (and `vertexops dev`) steer the emulator through it; in-process tests can use the
same operations on `Emulator` directly. Control calls are not written to the request log.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from emulator.apierror import ApiError, invalid_argument, not_found
from emulator.clock import rfc3339
from emulator.faults import FaultRule, JobFailureRule
from emulator.routes import Request, Response, error_response, json_response
from emulator.state import EmulatorState
from emulator.vertex_jobs import DEFAULT_DROP_REASON, HOLD_STATES, DroppedExamplesRule

PREFIX = "/_emulator"


def handle_control(state: EmulatorState, req: Request) -> Response:
    try:
        return json_response(200, _dispatch(state, req))
    except ApiError as error:
        return error_response(error)
    except (ValueError, TypeError) as error:
        return error_response(invalid_argument(str(error)))


def clock_json(state: EmulatorState) -> dict[str, Any]:
    now = state.clock.now()
    return {"now": rfc3339(now), "nowSeconds": now, "timeScale": state.clock.time_scale}


def _body(req: Request) -> dict[str, Any]:
    data = req.json()
    if not isinstance(data, dict):
        raise invalid_argument("the request body must be a JSON object")
    return data


def _dispatch(state: EmulatorState, req: Request) -> Any:
    path = req.path.removeprefix(PREFIX).rstrip("/") or "/"
    method = req.http_method
    if path == "/oauth" or path.startswith("/oauth/"):
        return state.oauth.control(
            method, path.removeprefix("/oauth"), _body(req) if method == "POST" else {}
        )
    if path == "/healthz" and method == "GET":
        return {"ok": True}
    if path == "/requests":
        if method == "GET":
            records = state.log.records(req.param("method"))
            return {"requests": [r.to_json() for r in records], "counts": state.log.counts()}
        if method == "DELETE":
            state.log.clear()
            return {}
    if path == "/clock":
        if method == "POST":
            body = _body(req)
            if "timeScale" in body:
                state.clock.set_time_scale(float(body["timeScale"]))
                state.config.time_scale = float(body["timeScale"])
            if "advanceSeconds" in body:
                state.clock.advance(float(body["advanceSeconds"]))
            return clock_json(state)
        if method == "GET":
            return clock_json(state)
    if path == "/config":
        if method == "POST":
            body = _body(req)
            state.config.update(body)
            if "timeScale" in body or "time_scale" in body:
                state.clock.set_time_scale(state.config.time_scale)
            return state.config.to_json()
        if method == "GET":
            return state.config.to_json()
    if path == "/faults":
        if method == "GET":
            return {"faults": [r.to_json() for r in state.faults.rules()]}
        if method == "POST":
            body = _body(req)
            specs = body["faults"] if isinstance(body.get("faults"), list) else [body]
            added = [state.faults.add(FaultRule.from_json(spec)) for spec in specs]
            return {"faults": [r.to_json() for r in added]}
        if method == "DELETE":
            state.faults.clear()
            return {}
    if path.startswith("/faults/") and method == "DELETE":
        if not state.faults.remove(path.removeprefix("/faults/")):
            raise not_found(f"no fault {path.removeprefix('/faults/')}")
        return {}
    if path == "/job-failures":
        if method == "POST":
            body = _body(req)
            rule = JobFailureRule(
                display_name=body.get("displayName"),
                probability=float(body.get("probability", 1.0)),
                at_fraction=float(body.get("atFraction", 0.5)),
                message=str(body.get("message") or JobFailureRule.message),
                times=body.get("times"),
                api=str(body.get("api", "*")),
            )
            state.failures.add(rule)
            return {}
        if method == "DELETE":
            state.failures.clear()
            return {}
    if path == "/jobs:fail" and method == "POST":
        body = _body(req)
        if not body.get("name"):
            raise invalid_argument("name is required: the tuning job to fail")
        return state.vertex.fail_job(
            str(body["name"]),
            str(body.get("message") or JobFailureRule.message),
            int(body["atStep"]) if body.get("atStep") is not None else None,
        )
    if path == "/storage/objects":
        return _storage(state, req, method)
    if path == "/dropped-examples":
        if method == "POST":
            body = _body(req)
            count = int(body.get("count", 0))
            if count < 1:
                raise invalid_argument("count must be a positive number of dropped examples")
            dropped = DroppedExamplesRule(
                count=count,
                reason=str(body.get("reason") or DEFAULT_DROP_REASON),
                display_name=body.get("displayName"),
            )
            state.vertex.dropped_rules.append(dropped)
            return {}
        if method == "DELETE":
            state.vertex.dropped_rules.clear()
            return {}
    if path == "/jobs:hold" and method == "POST":
        body = _body(req)
        if not body.get("name"):
            raise invalid_argument("name is required: the tuning job to hold in PENDING")
        return state.vertex.hold(str(body["name"]), str(body.get("tuningJobState") or HOLD_STATES[0]))
    if path == "/jobs:release" and method == "POST":
        body = _body(req)
        if not body.get("name"):
            raise invalid_argument("name is required: the held tuning job to release")
        return state.vertex.release(str(body["name"]))
    if path == "/stats" and method == "GET":
        return {
            "tuningJobs": len(state.vertex),
            "tunedModels": len(state.gemini),
            "requests": state.log.count(),
        }
    if path == "/reset" and method == "POST":
        state.reset()
        return {}
    raise not_found(f"no control endpoint {method} {req.path}")


def _storage(state: EmulatorState, req: Request, method: str) -> Any:
    """Put, list or delete Cloud Storage objects without the upload API's auth (test set-up).

    POST `{"bucket", "name", "text" | "base64" | "path", "contentType"?}`: `path` serves a file on the
    emulator's machine from disk (a benchmark's gigabyte); answers the object resource.
    """
    if method == "GET":
        return {"items": state.storage.list_json()}
    body = _body(req)
    bucket, name = str(body.get("bucket") or ""), str(body.get("name") or "")
    if method == "DELETE":
        if not state.storage.delete(bucket, name):
            raise not_found(f"no object gs://{bucket}/{name}")
        return {}
    if method != "POST":
        raise not_found(f"no control endpoint {method} {req.path}")
    content_type = str(body.get("contentType") or "application/octet-stream")
    if "path" in body:
        stored = state.storage.put(bucket, name, path=Path(str(body["path"])), content_type=content_type)
    elif "base64" in body:
        stored = state.storage.put(
            bucket, name, base64.b64decode(str(body["base64"])), content_type=content_type
        )
    else:
        text = str(body.get("text", "")).encode()
        stored = state.storage.put(bucket, name, text, content_type=content_type)
    return stored.resource()
