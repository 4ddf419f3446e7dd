"""Routing of the Vertex AI and Gemini API REST paths to the stores, with auth and fault injection.

Every request is named by its API method (`tuningJobs.list`, `tunedModels.patch`, ...), the same names the
clients report to their observer, so the request log, fault rules and client metrics line up.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.api_versions import for_version
from emulator.apierror import STATUS_BY_HTTP, ApiError, invalid_argument
from emulator.enum_encoding import enum_names, enum_numbers, int_enums_requested
from emulator.faults import FaultRule
from emulator.generation import generate, paced, stream
from emulator.oauth import bearer_token
from emulator.requestlog import RequestRecord
from emulator.state import EmulatorState
from emulator.storage import ROUTE_TABLE as STORAGE_ROUTES
from emulator.vertex_validation import base_model_id


@dataclass
class Request:
    http_method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    principal: str = ""  # set by the IAM check (emulator.iam)
    created: str = ""  # the resource name a create made, for the request log

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise invalid_argument(
                f"Invalid JSON payload received. Unexpected token at byte 0: {self.body[:40]!r}"
            ) from None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterator[bytes] | None = None
    # The length of what `chunks` yields, when known: sent as content-length (as Google does for a media
    # download) rather than in chunked transfer encoding.
    length: int | None = None
    drop: bool = False


Handler = Callable[[EmulatorState, Request, dict[str, str]], Any]

_V = r"^/(?:v1|v1beta1)/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)"
_G = r"^/v1beta/tunedModels"


@dataclass(frozen=True)
class Route:
    http_method: str
    pattern: re.Pattern[str]
    api: str
    method: str
    handler: Handler
    permission: str


def _route(
    http_method: str, pattern: str, api: str, method: str, permission: str
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(http_method, re.compile(pattern + "$"), api, method, handler, permission))
        return handler

    return register


ROUTES: list[Route] = []


# -- Vertex AI ---------------------------------------------------------------------------------------------


@_route("POST", _V + r"/tuningJobs", "vertex", "tuningJobs.create", "aiplatform.tuningJobs.create")
def _create_job(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    body = req.json()
    if isinstance(body, dict):
        state.iam.check_create(req.principal, body)
    job = state.vertex.create(m["p"], m["l"], body)
    req.created = str(job.get("name") or "")
    return job


# -- IAM Credentials ---------------------------------------------------------------------------------------


@_route(
    "POST",
    r"^/v1/projects/-/serviceAccounts/(?P<sa>[^/:]+):generateAccessToken",
    "iamcredentials",
    "serviceAccounts.generateAccessToken",
    "iam.serviceAccounts.getAccessToken",
)
def _generate_access_token(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    body = req.json()
    return state.iam.generate_access_token(req.principal, m["sa"], body if isinstance(body, dict) else {})


@_route("GET", _V + r"/tuningJobs", "vertex", "tuningJobs.list", "aiplatform.tuningJobs.list")
def _list_jobs(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.vertex.list_jobs(
        m["p"], m["l"], filter=req.param("filter"), size=req.param("pageSize"), token=req.param("pageToken")
    )


@_route("GET", _V + r"/tuningJobs/(?P<id>[^/:]+)", "vertex", "tuningJobs.get", "aiplatform.tuningJobs.get")
def _get_job(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.vertex.get(m["p"], m["l"], m["id"])


@_route(
    "POST",
    _V + r"/tuningJobs/(?P<id>[^/:]+):cancel",
    "vertex",
    "tuningJobs.cancel",
    "aiplatform.tuningJobs.cancel",
)
def _cancel_job(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.vertex.cancel(m["p"], m["l"], m["id"])


def _endpoint_job(state: EmulatorState, m: dict[str, str]) -> tuple[str, str]:
    job = state.tuned.serving(m["p"], m["l"], m["e"])  # None once undeployed or deleted
    name = f"projects/{m['p']}/locations/{m['l']}/endpoints/{m['e']}"
    if job is None:
        raise ApiError("NOT_FOUND", f"Endpoint {name} not found.")
    label = str(job.spec.get("tunedModelDisplayName") or f"tuned-{job.job_id}")
    return label, base_model_id(str(job.spec.get("baseModel") or "gemini"))


@_route(
    "POST",
    _V + r"/endpoints/(?P<e>[^/:]+):generateContent",
    "vertex",
    "endpoints.generateContent",
    "aiplatform.endpoints.predict",
)
def _endpoint_generate(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    label, version = _endpoint_job(state, m)
    name = _vertex_path(m, "endpoints", m["e"])
    return _answer(state, req, "endpoints.generateContent", name, label=label, version=version, vertex=True)


@_route(
    "POST",
    _V + r"/endpoints/(?P<e>[^/:]+):streamGenerateContent",
    "vertex",
    "endpoints.streamGenerateContent",
    "aiplatform.endpoints.predict",
)
def _endpoint_stream(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    label, version = _endpoint_job(state, m)
    name = _vertex_path(m, "endpoints", m["e"])
    return _answer(
        state, req, "endpoints.streamGenerateContent", name, label=label, version=version, vertex=True
    )


# The tuned Model and its Endpoint, and their removal (emulator.vertex_resources).


@_route("GET", _V + r"/endpoints/(?P<e>[^/:]+)", "vertex", "endpoints.get", "aiplatform.endpoints.get")
def _get_endpoint(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.tuned.get_endpoint(m["p"], m["l"], m["e"])


@_route(
    "POST",
    _V + r"/endpoints/(?P<e>[^/:]+):undeployModel",
    "vertex",
    "endpoints.undeployModel",
    "aiplatform.endpoints.undeploy",
)
def _undeploy(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.tuned.undeploy(m["p"], m["l"], m["e"], req.json())


@_route(
    "DELETE", _V + r"/endpoints/(?P<e>[^/:]+)", "vertex", "endpoints.delete", "aiplatform.endpoints.delete"
)
def _delete_endpoint(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.tuned.delete_endpoint(m["p"], m["l"], m["e"])


@_route("GET", _V + r"/models/(?P<model>[^/:]+)", "vertex", "models.get", "aiplatform.models.get")
def _get_tuned_model(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.tuned.get_model(m["p"], m["l"], m["model"])


@_route("DELETE", _V + r"/models/(?P<model>[^/:]+)", "vertex", "models.delete", "aiplatform.models.delete")
def _delete_tuned_model(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.tuned.delete_model(m["p"], m["l"], m["model"])


# The REST transport of google-cloud-aiplatform polls operations under `/ui/` (its operations
# http_options list `/ui/{name=projects/*/locations/*/endpoints/*/operations/*}` first, then `/v1/...`).
@_route(
    "GET",
    r"^/(?:v1|v1beta1|ui)/projects/(?P<p>[^/]+)/locations/(?P<l>[^/]+)"
    r"(?:/(?:endpoints|models)/[^/:]+)?/operations/(?P<op>[^/:]+)",
    "vertex",
    "operations.get",
    "aiplatform.operations.get",
)
def _get_vertex_operation(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.tuned.get_operation(req.path.split("/", 2)[2])


# The base models themselves (what `compare` weighs a tuned model against): Vertex serves them under
# `publishers/google/models/{model}`, the Gemini API under `models/{model}`.


def _publisher_model(m: dict[str, str]) -> str:
    model = base_model_id(m["model"])
    if m["pub"] != "google" or not model.startswith("gemini"):
        name = f"publishers/{m['pub']}/models/{m['model']}"
        raise ApiError(
            "NOT_FOUND",
            f"Publisher Model `projects/{m['p']}/locations/{m['l']}/{name}` is not found.",
        )
    return model


@_route(
    "POST",
    _V + r"/publishers/(?P<pub>[^/]+)/models/(?P<model>[^/:]+):generateContent",
    "vertex",
    "publishers.models.generateContent",
    "aiplatform.endpoints.predict",
)
def _publisher_generate(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    model = _publisher_model(m)
    name = f"projects/{m['p']}/locations/{m['l']}/publishers/{m['pub']}/models/{model}"
    return _answer(
        state, req, "publishers.models.generateContent", name, label=model, version=model, vertex=True
    )


@_route(
    "POST",
    _V + r"/publishers/(?P<pub>[^/]+)/models/(?P<model>[^/:]+):streamGenerateContent",
    "vertex",
    "publishers.models.streamGenerateContent",
    "aiplatform.endpoints.predict",
)
def _publisher_stream(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    model = _publisher_model(m)
    name = f"projects/{m['p']}/locations/{m['l']}/publishers/{m['pub']}/models/{model}"
    return _answer(
        state, req, "publishers.models.streamGenerateContent", name, label=model, version=model, vertex=True
    )


def _vertex_path(m: dict[str, str], collection: str, resource_id: str) -> str:
    return f"projects/{m['p']}/locations/{m['l']}/{collection}/{resource_id}"


_CTX = _V + r"/metadataStores/default/contexts"
_TB = _V + r"/tensorboards/(?P<tb>[^/:]+)"


@_route("GET", _CTX + r"/(?P<c>[^/:]+)", "vertex", "contexts.get", "aiplatform.contexts.get")
def _get_context(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.metrics.get_context(m["p"], m["l"], m["c"])


@_route("GET", _CTX, "vertex", "contexts.list", "aiplatform.contexts.list")
def _list_contexts(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.metrics.list_contexts(
        m["p"], m["l"], filter=req.param("filter"), size=req.param("pageSize"), token=req.param("pageToken")
    )


@_route(
    "GET",
    _TB + r"/experiments/(?P<e>[^/]+)/runs",
    "vertex",
    "tensorboardRuns.list",
    "aiplatform.tensorboardRuns.list",
)
def _list_runs(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.metrics.list_runs(m["p"], m["l"], m["tb"], m["e"])


@_route(
    "GET",
    _TB + r"/experiments/(?P<e>[^/]+)/runs/(?P<r>[^/]+)/timeSeries",
    "vertex",
    "tensorboardTimeSeries.list",
    "aiplatform.tensorboardTimeSeries.list",
)
def _list_series(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.metrics.list_time_series(
        m["p"], m["l"], m["tb"], m["e"], m["r"], size=req.param("pageSize"), token=req.param("pageToken")
    )


@_route(
    "GET", _TB + r":batchRead", "vertex", "tensorboards.batchRead", "aiplatform.tensorboardTimeSeries.read"
)
def _batch_read(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.metrics.batch_read(m["p"], m["l"], m["tb"], req.query.get("timeSeries", []))


@_route(
    "GET",
    _TB + r"/experiments/[^/]+/runs/[^/]+/timeSeries/[^/:]+:read",
    "vertex",
    "tensorboardTimeSeries.read",
    "aiplatform.tensorboardTimeSeries.read",
)
def _read_series(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    name = req.path.split("/", 2)[2].removesuffix(":read")
    return state.metrics.read(m["p"], m["l"], name, req.param("maxDataPoints"))


# -- Gemini API --------------------------------------------------------------------------------------------


@_route("POST", _G, "gemini", "tunedModels.create", "generativelanguage.tunedModels.create")
def _create_model(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.gemini.create(req.json(), req.param("tunedModelId"))


@_route("GET", _G, "gemini", "tunedModels.list", "generativelanguage.tunedModels.list")
def _list_models(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.gemini.list_models(
        filter=req.param("filter"), size=req.param("pageSize"), token=req.param("pageToken")
    )


@_route("GET", _G + r"/(?P<id>[^/:]+)", "gemini", "tunedModels.get", "generativelanguage.tunedModels.get")
def _get_model(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.gemini.get(m["id"])


@_route(
    "PATCH", _G + r"/(?P<id>[^/:]+)", "gemini", "tunedModels.patch", "generativelanguage.tunedModels.update"
)
def _patch_model(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.gemini.patch(m["id"], req.json(), req.param("updateMask"))


@_route(
    "DELETE", _G + r"/(?P<id>[^/:]+)", "gemini", "tunedModels.delete", "generativelanguage.tunedModels.delete"
)
def _delete_model(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.gemini.delete(m["id"])


@_route(
    "GET",
    _G + r"/(?P<id>[^/:]+)/operations/(?P<op>[^/:]+)",
    "gemini",
    "tunedModels.operations.get",
    "generativelanguage.operations.get",
)
def _get_operation(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.gemini.get_operation(m["id"], m["op"])


@_route(
    "GET",
    _G + r"/(?P<id>[^/:]+)/operations",
    "gemini",
    "tunedModels.operations.list",
    "generativelanguage.operations.list",
)
def _list_operations(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    return state.gemini.list_operations(m["id"])


@_route(
    "POST",
    _G + r"/(?P<id>[^/:]+):generateContent",
    "gemini",
    "tunedModels.generateContent",
    "generativelanguage.tunedModels.generateContent",
)
def _model_generate(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    model = state.gemini.require_active(m["id"])
    label = str(model.fields.get("displayName") or model.model_id)
    return _answer(
        state, req, "tunedModels.generateContent", model.name, label=label, version=model.name, vertex=False
    )


@_route(
    "POST",
    _G + r"/(?P<id>[^/:]+):streamGenerateContent",
    "gemini",
    "tunedModels.streamGenerateContent",
    "generativelanguage.tunedModels.streamGenerateContent",
)
def _model_stream(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    model = state.gemini.require_active(m["id"])
    label = str(model.fields.get("displayName") or model.model_id)
    method = "tunedModels.streamGenerateContent"
    return _answer(state, req, method, model.name, label=label, version=model.name, vertex=False)


_BASE = r"^/v1beta/models/(?P<model>[^/:]+)"


def _base_model(m: dict[str, str]) -> str:
    if not m["model"].startswith("gemini"):
        raise ApiError("NOT_FOUND", f"models/{m['model']} is not found for API version v1beta.")
    return f"models/{m['model']}"


@_route(
    "POST",
    _BASE + r":generateContent",
    "gemini",
    "models.generateContent",
    "generativelanguage.models.generateContent",
)
def _base_generate(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    name = _base_model(m)
    return _answer(state, req, "models.generateContent", name, label=m["model"], version=name, vertex=False)


@_route(
    "POST",
    _BASE + r":streamGenerateContent",
    "gemini",
    "models.streamGenerateContent",
    "generativelanguage.models.generateContent",
)
def _base_stream(state: EmulatorState, req: Request, m: dict[str, str]) -> Any:
    name = _base_model(m)
    return _answer(
        state, req, "models.streamGenerateContent", name, label=m["model"], version=name, vertex=False
    )


def _answer(
    state: EmulatorState,
    req: Request,
    method: str,
    name: str,
    *,
    label: str,
    version: str,
    vertex: bool,
) -> Any:
    """The answer of `name` (a model or endpoint) to generateContent, or streamGenerateContent by `method`.

    Every generation is recorded (what the tests read back), the one-shot call before the answer is made.
    """
    body = req.json()
    if method.endswith(".streamGenerateContent"):
        chunks = stream(body, label, version, state.clock.now(), vertex=vertex)
        if vertex and int_enums_requested(req.query):
            chunks = (enum_numbers(chunk) for chunk in chunks)
        return _streamed(state, req, method=method, model=name, body=body, chunks=chunks)
    state.generations.add(method, name, body)
    return generate(body, label, version, state.clock.now(), vertex=vertex)


def _streamed(
    state: EmulatorState,
    req: Request,
    *,
    method: str,
    model: str,
    body: Any,
    chunks: Iterator[dict[str, Any]],
) -> Response:
    """`alt=sse`: one `data:` event per chunk, paced; otherwise one JSON array, as the APIs send."""
    items = list(chunks)  # validation errors surface before the 200 status line is sent
    record = state.generations.add(method, model, body)
    if req.param("alt") == "sse":
        return Response(
            200,
            headers={"content-type": "text/event-stream"},
            chunks=paced(
                items,
                record,
                state.config.stream_chunk_seconds,
                lambda item: f"data: {json.dumps(item)}\r\n\r\n".encode(),
            ),
        )
    record.chunk_times.append(time.time())
    body_bytes = ("[" + ",\r\n".join(json.dumps(item) for item in items) + "]").encode()
    return Response(200, body=body_bytes, headers={"content-type": "application/json; charset=UTF-8"})


# -- Cloud Storage (emulator.storage) ---------------------------------------------------------------------

ROUTES.extend(
    Route(http, re.compile(pattern + "$"), "storage", method, handler, permission)
    for http, pattern, method, permission, handler in STORAGE_ROUTES
)


# -- dispatch ----------------------------------------------------------------------------------------------


def find_route(http_method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path parameters, whether the path exists with another HTTP method)."""
    path_matched = False
    for route in ROUTES:
        match = route.pattern.match(path)
        if match:
            path_matched = True
            if route.http_method == http_method:
                return route, {k: v for k, v in match.groupdict().items() if v is not None}, True
    return None, {}, path_matched


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status,
        body=json.dumps(payload, indent=2).encode() + b"\n",
        headers={"content-type": "application/json; charset=UTF-8", **(headers or {})},
    )


def error_response(error: ApiError) -> Response:
    return json_response(error.http_status, error.body(), error.headers)


def handle_api(state: EmulatorState, req: Request) -> Response:
    """Serve one Vertex or Gemini request and record it in the request log."""
    started = time.monotonic()
    route, params, path_known = find_route(req.http_method, req.path)
    if route is None:
        status = "UNIMPLEMENTED" if path_known else "NOT_FOUND"
        error = ApiError(status, f"Method {req.http_method} {req.path} is not served by this API.")
        response = error_response(error)
        record_request(state, req, api="", method="", status=response.status, started=started)
        return response
    try:
        response = _serve(state, req, route, params)
    except ApiError as error:
        response = error_response(error)
    record_request(
        state,
        req,
        api=route.api,
        method=route.method,
        status=None if response.drop else response.status,
        started=started,
    )
    return response


def _serve(state: EmulatorState, req: Request, route: Route, params: dict[str, str]) -> Response:
    fired = state.faults.fire(route.method)
    for rule in fired:
        if rule.latency_seconds:
            time.sleep(rule.latency_seconds)
    for rule in fired:
        if rule.kind == "drop":
            return Response(0, drop=True)
        if rule.kind == "status":
            return error_response(_status_fault(rule))
        if rule.kind == "permission_denied":
            return error_response(_permission_fault(rule, route, req, params))
        if rule.kind == "malformed":
            return Response(
                200, body=b'{"tuningJobs": [ {"name": ', headers={"content-type": "application/json"}
            )
    _check_auth(state, req, route)
    req.principal = state.iam.caller(req.headers) or _oauth_principal(state, req)
    if route.api == "vertex":
        state.iam.check_project(req.principal, route.permission, params["p"], params["l"])
        _enum_names_in_body(req)
    result = route.handler(state, req, params)
    if isinstance(result, Response):
        return result
    if route.api == "vertex":
        result = for_version(req.path, result)
        if int_enums_requested(req.query):
            result = enum_numbers(result)
    for rule in fired:
        if rule.kind == "unknown_state":
            default = "JOB_STATE_EMULATED_UNKNOWN" if route.api == "vertex" else "STATE_EMULATED_UNKNOWN"
            _replace_states(result, rule.state or default)
        elif rule.kind == "missing_fields":
            _drop_fields(result, rule.fields)
    return json_response(200, result)


def _enum_names_in_body(req: Request) -> None:
    """Integer enums in a Vertex request become names, so the stores see one spelling (enum_encoding).

    A body that is not JSON is left for the handler to refuse with Google's parse error.
    """
    if not req.body.strip():
        return
    try:
        body = json.loads(req.body)
    except ValueError:
        return
    req.body = json.dumps(enum_names(body)).encode()


def _status_fault(rule: FaultRule) -> ApiError:
    status = STATUS_BY_HTTP.get(rule.status, "UNKNOWN")
    messages = {
        429: "Quota exceeded for aiplatform.googleapis.com/generate_content_requests_per_minute_per_project.",
        500: "Internal error encountered.",
        502: "Bad Gateway",
        503: "The service is currently unavailable.",
        504: "Deadline exceeded.",
    }
    message = rule.message or messages.get(rule.status, f"Injected error {rule.status}.")
    details: list[dict[str, Any]] = []
    headers: dict[str, str] = {}
    if rule.status == 429:
        delay = rule.retry_after_seconds if rule.retry_after_seconds is not None else 1.0
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay:g}s"})
        headers["retry-after"] = str(max(0, round(delay)))
    elif rule.retry_after_seconds is not None:
        headers["retry-after"] = str(max(0, round(rule.retry_after_seconds)))
    return ApiError(status, message, details=details, http_status=rule.status, headers=headers)


def _permission_fault(rule: FaultRule, route: Route, req: Request, params: dict[str, str]) -> ApiError:
    permission = rule.permission or route.permission
    if route.api == "vertex":
        resource = f"//aiplatform.googleapis.com/projects/{params['p']}/locations/{params['l']}"
        domain = "aiplatform.googleapis.com"
    else:
        resource = f"//generativelanguage.googleapis.com/{req.path.removeprefix('/v1beta/').split(':', 1)[0]}"
        domain = "generativelanguage.googleapis.com"
    message = (
        rule.message or f"Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
    )
    return ApiError(
        "PERMISSION_DENIED",
        message,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": domain,
                "metadata": {"permission": permission, "resource": resource.removeprefix(f"//{domain}/")},
            }
        ],
    )


_MISSING_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_INVALID_CREDENTIAL = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
    "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def _error_info(reason: str, domain: str, service: str) -> list[dict[str, Any]]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": domain,
            "metadata": {"service": service},
        }
    ]


# APIs that take only OAuth tokens, by the service name their errors carry.
_OAUTH_ONLY = {
    "vertex": "aiplatform.googleapis.com",
    "iamcredentials": "iamcredentials.googleapis.com",
    "storage": "storage.googleapis.com",
}


def _oauth_principal(state: EmulatorState, req: Request) -> str:
    """Whom a token minted by the emulator's OAuth endpoints belongs to ('' for none)."""
    token = bearer_token(req.headers)
    minted = state.oauth.lookup(token) if token else None
    return minted.principal if minted else ""


def _check_auth(state: EmulatorState, req: Request, route: Route) -> None:
    """Google's answers to missing or bad credentials, per API."""
    if not state.config.require_auth:
        return
    token = bearer_token(req.headers)
    key = req.headers.get("x-goog-api-key") or req.param("key") or ""
    valid = state.config.valid_credentials
    token_ok = bool(token) and (
        state.oauth.lookup(token) is not None
        or state.iam.principal(token) is not None
        or (valid is not None and token in valid)
    )
    if route.api in _OAUTH_ONLY:
        service = _OAUTH_ONLY[route.api]
        if not token and key:
            raise ApiError(
                "UNAUTHENTICATED",
                "API keys are not supported by this API. Expected OAuth2 access token or other "
                "authentication credentials that assert a principal. See https://cloud.google.com/docs/authentication",
                details=_error_info("CREDENTIALS_MISSING", "googleapis.com", service),
            )
        if not token:
            raise ApiError(
                "UNAUTHENTICATED",
                _MISSING_CREDENTIAL,
                details=_error_info("CREDENTIALS_MISSING", "googleapis.com", service),
            )
        if not token_ok:
            raise ApiError(
                "UNAUTHENTICATED",
                _INVALID_CREDENTIAL,
                details=_error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED", "googleapis.com", service),
            )
        return
    service = "generativelanguage.googleapis.com"
    if not token and not key:
        raise ApiError(
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API.",
        )
    if key and valid is not None and key not in valid:
        raise ApiError(
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            details=_error_info("API_KEY_INVALID", "googleapis.com", service),
        )
    if token and not key and not token_ok:
        raise ApiError(
            "UNAUTHENTICATED",
            _INVALID_CREDENTIAL,
            details=_error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED", "googleapis.com", service),
        )


def _resources(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict):
        return []
    for key in ("tuningJobs", "tunedModels", "operations", "contexts", "tensorboardTimeSeries"):
        if isinstance(payload.get(key), list):
            return [item for item in payload[key] if isinstance(item, dict)]
    found = [payload]
    if isinstance(payload.get("response"), dict):
        found.append(payload["response"])
    return found


def _replace_states(payload: Any, state: str) -> None:
    for resource in _resources(payload):
        if "state" in resource:
            resource["state"] = state


def _drop_fields(payload: Any, fields: list[str]) -> None:
    for resource in _resources(payload):
        for name in fields:
            resource.pop(name, None)


def credential_sources(req: Request) -> tuple[str, ...]:
    """Where the request carried a credential: `bearer-header`, `api-key-header`, `api-key-query`.

    Recorded so a test can tell a key sent in the header from one moved into the URL (where proxies and
    access logs keep it), even though the API accepts both, as Google does.
    """
    found = []
    if bearer_token(req.headers):
        found.append("bearer-header")
    if req.headers.get("x-goog-api-key"):
        found.append("api-key-header")
    if "key" in req.query:
        found.append("api-key-query")
    return tuple(found)


def record_request(
    state: EmulatorState, req: Request, *, api: str, method: str, status: int | None, started: float
) -> None:
    # A `key` in the query is logged as present but never with its value.
    query = "&".join(
        f"{k}={'<redacted>' if k == 'key' else v}" for k, values in req.query.items() for v in values
    )
    state.log.add(
        RequestRecord(
            time=time.time(),
            api=api,
            method=method,
            http_method=req.http_method,
            path=req.path,
            query=query,
            status=status,
            duration_ms=(time.monotonic() - started) * 1000.0,
            credentials=credential_sources(req),
            principal=req.principal,
            created=req.created,
            user_agent=req.headers.get("user-agent", ""),
        )
    )
