"""Client for Vertex AI v1: tuning jobs, tuned-model endpoints, and the metrics of a job.

Which calls are retried is decided here, per method, because only this layer knows which calls have side
effects: `tuningJobs.create` has no client-chosen id, so a blind retry after a timeout could start a second
paid job; it is attempted once and the caller (which labels every job and looks for it by label before
creating again) decides what to do.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from controller.google.auth import Auth, application_default_auth
from controller.google.errors import InvalidArgumentError, MalformedResponseError
from controller.google.hints import vertex_hint
from controller.google.metrics_reader import read_tuning_metrics
from controller.google.models_common import GenerateContentResponse, parse_model
from controller.google.models_vertex import TuningJob, TuningJobCreate, TuningJobPage, TuningMetrics
from controller.google.rest_client import RestClient
from controller.google.retry import RetryPolicy
from controller.google.transport import DEFAULT_TIMEOUT, Observer

API = "aiplatform"

_NAME_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/")
_JOB_NAME_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/tuningJobs/[^/:]+$")
_ENDPOINT_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/endpoints/[^/:]+$")
_MODEL_RE = re.compile(r"^projects/[^/]+/locations/[^/]+/models/[^/:@]+(@[A-Za-z0-9_-]+)?$")
# What generateContent serves: a tuned model's endpoint, or a base model (`publishers/google/models/...`).
_GENERATE_TARGET_RE = re.compile(
    r"^projects/[^/]+/locations/[^/]+/(endpoints/[^/:]+|publishers/[^/]+/models/[^/:]+)$"
)
_GENERATE_SHAPE = (
    "projects/{project}/locations/{location}/endpoints/{id} or "
    "projects/{project}/locations/{location}/publishers/google/models/{model}"
)
_SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def vertex_host(location: str) -> str:
    """The Vertex AI host serving `location`.

    `global` uses the global host (as python-genai does; whether `global-aiplatform.googleapis.com` also
    works is unconfirmed), and the `us`/`eu` multi-regions their regional endpoint (`.rep.`) hosts.
    """
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in ("us", "eu"):
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def location_of(name: str, field: str = "name") -> str:
    """The location segment of a Vertex resource name."""
    match = _NAME_RE.match(name)
    if not match:
        raise ValueError(
            f"{field} must start with projects/{{project}}/locations/{{location}}/, got {name!r}"
        )
    return match.group(2)


def label_filter(labels: Mapping[str, str]) -> str:
    """An AIP-160 filter matching every label: `labels.k1="v1" AND labels.k2="v2"`."""
    parts = []
    for key, value in sorted(labels.items()):
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key):
            raise ValueError(
                f"label key {key!r} must be lowercase letters, digits, '_' or '-', starting with a letter"
            )
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'labels.{key}="{escaped}"')
    return " AND ".join(parts)


class VertexClient(RestClient):
    """Vertex AI v1 over REST.

    `base_url` sends every location to one URL (the emulator, or a private endpoint); without it each call
    goes to its location's regional host. `auth` defaults to Application Default Credentials, wherever the
    calls go (the emulator mints tokens as Google does). Safe to share between threads.
    """

    def __init__(
        self,
        *,
        auth: Auth | None = None,
        base_url: str | None = None,
        api_version: str = "v1",
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        generate_timeout: float = 600.0,
        observer: Observer | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if auth is None:
            auth = application_default_auth()
        self._base_url = base_url.rstrip("/") if base_url else None
        self._version = api_version
        super().__init__(
            api=API,
            auth=auth,
            hint=vertex_hint(auth.kind),
            retry=retry,
            timeout=timeout,
            generate_timeout=generate_timeout,
            observer=observer,
            http_client=http_client,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"VertexClient(base_url={self._base_url!r}, auth={self._transport.auth!r})"

    def url(self, location: str, path: str, version: str | None = None) -> str:
        """The full URL of `path` (a resource name plus any `:verb`) in `location`, in the client's API
        version unless `version` names another."""
        base = self._base_url or vertex_host(location)
        return f"{base}/{version or self._version}/{path}"

    def _url(self, path: str) -> str:
        return self.url(location_of(path), path)

    # -- tuningJobs ----------------------------------------------------------------------------------------

    def create_tuning_job(
        self, project: str, location: str, job: TuningJobCreate | Mapping[str, Any]
    ) -> TuningJob:
        """Create a tuning job; returns the job Vertex created (Vertex returns the job, not an operation).

        Never retried: see the module docstring. On a `TransportError` the job may or may not exist.
        """
        parent = _parent(project, location)
        body = job.to_api() if isinstance(job, TuningJobCreate) else dict(job)
        data = self._call(
            "tuningJobs.create", "POST", f"{parent}/tuningJobs", resource=parent, retry=False, body=body
        )
        return parse_model(TuningJob, data, "tuningJobs.create", parent, api=API)

    def get_tuning_job(self, name: str) -> TuningJob:
        _check(
            _JOB_NAME_RE, name, "tuning job name", "projects/{project}/locations/{location}/tuningJobs/{id}"
        )
        data = self._call("tuningJobs.get", "GET", name, resource=name, retry=True)
        return parse_model(TuningJob, data, "tuningJobs.get", name, api=API)

    def list_tuning_jobs_page(
        self,
        project: str,
        location: str,
        *,
        filter: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        version: str | None = None,
    ) -> TuningJobPage:
        """One page of `tuningJobs.list`. An empty `next_page_token` means the last page.

        `version` lists through another API version than the client's (v1beta1 has the same paths and
        adds fields such as `tuningJobState`)."""
        parent = _parent(project, location)
        params = {"filter": filter or None, "pageSize": page_size, "pageToken": page_token or None}
        data = self._transport.call(
            "tuningJobs.list",
            "GET",
            self.url(location, f"{parent}/tuningJobs", version),
            resource=parent,
            params=params,
            body=None,
            retry=True,
            timeout=None,
        )
        return parse_model(TuningJobPage, data, "tuningJobs.list", parent, api=API)

    def iter_tuning_jobs(
        self,
        project: str,
        location: str,
        *,
        filter: str | None = None,
        page_size: int | None = None,
        version: str | None = None,
    ) -> Iterator[TuningJob]:
        """Every job matching `filter`, fetching pages until the server sends no `nextPageToken`."""
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            page = self.list_tuning_jobs_page(
                project, location, filter=filter, page_size=page_size, page_token=token, version=version
            )
            yield from page.tuning_jobs
            if not page.next_page_token:
                return
            if page.next_page_token in seen_tokens:
                raise MalformedResponseError(
                    f"malformed response from tuningJobs.list on {_parent(project, location)}: "
                    "the server repeated a nextPageToken, which would page forever",
                    http_status=200,
                    api=API,
                    method="tuningJobs.list",
                    resource=_parent(project, location),
                )
            seen_tokens.add(page.next_page_token)
            token = page.next_page_token

    def list_tuning_jobs(
        self,
        project: str,
        location: str,
        *,
        filter: str | None = None,
        page_size: int | None = None,
        version: str | None = None,
    ) -> list[TuningJob]:
        return list(
            self.iter_tuning_jobs(project, location, filter=filter, page_size=page_size, version=version)
        )

    def find_tuning_jobs_by_labels(
        self,
        project: str,
        location: str,
        labels: Mapping[str, str],
        *,
        page_size: int | None = None,
        version: str | None = None,
    ) -> list[TuningJob]:
        """Jobs carrying every label in `labels`, e.g. the job a resource created before a crash.

        The public `ListTuningJobsRequest.filter` is documented only as "the standard list filter"
        (google/cloud/aiplatform/v1/genai_tuning_service.proto); other Vertex job lists accept
        `labels.key="value"`, but for tuning jobs that is unconfirmed. So the filter is sent, the result is
        filtered again here (a server that ignores the filter returns every job), and if the server rejects
        the filter as invalid, everything is listed and filtered here.
        """
        return list(
            self.iter_tuning_jobs_by_labels(project, location, labels, page_size=page_size, version=version)
        )

    def iter_tuning_jobs_by_labels(
        self,
        project: str,
        location: str,
        labels: Mapping[str, str],
        *,
        page_size: int | None = None,
        version: str | None = None,
    ) -> Iterator[TuningJob]:
        """`find_tuning_jobs_by_labels` one page at a time: a caller that keeps a compact form of each job
        (the operator's per-location listing of thousands) never holds every parsed job at once."""
        wanted = dict(labels)
        jobs = self.iter_tuning_jobs(
            project, location, filter=label_filter(wanted), page_size=page_size, version=version
        )
        try:
            first = next(jobs, None)
        except InvalidArgumentError:
            jobs = self.iter_tuning_jobs(project, location, page_size=page_size, version=version)
            first = next(jobs, None)
        if first is None:
            return
        for job in itertools.chain((first,), jobs):
            if all(job.labels.get(k) == v for k, v in wanted.items()):
                yield job

    def cancel_tuning_job(self, name: str) -> None:
        """Ask Vertex to cancel; it answers at once and the job passes through CANCELLING later.

        Retried on transient errors: cancelling twice has the same effect as once. Cancelling a finished
        job raises `FailedPreconditionError`.
        """
        _check(
            _JOB_NAME_RE, name, "tuning job name", "projects/{project}/locations/{location}/tuningJobs/{id}"
        )
        self._call("tuningJobs.cancel", "POST", f"{name}:cancel", resource=name, retry=True, body={})

    # -- the outputs of a job: its endpoints and tuned Model (removed by deletionPolicy Delete) -------------

    def get_endpoint(self, name: str) -> dict[str, Any]:
        """An Endpoint as a plain dict (`deployedModels[{id, model, ...}]` while a model is deployed)."""
        _check(_ENDPOINT_RE, name, "endpoint", "projects/{project}/locations/{location}/endpoints/{id}")
        return _require_dict(
            self._call("endpoints.get", "GET", name, resource=name, retry=True), "endpoints.get", name
        )

    def undeploy_model(self, endpoint: str, deployed_model_id: str) -> dict[str, Any]:
        """Start undeploying a DeployedModel from an Endpoint; answers a long-running Operation."""
        _check(_ENDPOINT_RE, endpoint, "endpoint", "projects/{project}/locations/{location}/endpoints/{id}")
        data = self._call(
            "endpoints.undeployModel",
            "POST",
            f"{endpoint}:undeployModel",
            resource=endpoint,
            retry=True,  # undeploying twice: the second answers NOT_FOUND, nothing more happens
            body={"deployedModelId": deployed_model_id},
        )
        return _require_dict(data, "endpoints.undeployModel", endpoint)

    def delete_endpoint(self, name: str) -> dict[str, Any]:
        """Start deleting an Endpoint without deployed models; answers a long-running Operation."""
        _check(_ENDPOINT_RE, name, "endpoint", "projects/{project}/locations/{location}/endpoints/{id}")
        data = self._call("endpoints.delete", "DELETE", name, resource=name, retry=True)
        return _require_dict(data, "endpoints.delete", name)

    def get_model(self, name: str) -> dict[str, Any]:
        """A Model (of the Model Registry) as a plain dict."""
        _check(_MODEL_RE, name, "model", "projects/{project}/locations/{location}/models/{id}[@version]")
        return _require_dict(
            self._call("models.get", "GET", name, resource=name, retry=True), "models.get", name
        )

    def delete_model(self, name: str) -> dict[str, Any]:
        """Start deleting a Model that is deployed nowhere; answers a long-running Operation."""
        _check(_MODEL_RE, name, "model", "projects/{project}/locations/{location}/models/{id}")
        data = self._call("models.delete", "DELETE", name, resource=name, retry=True)
        return _require_dict(data, "models.delete", name)

    # -- endpoints -----------------------------------------------------------------------------------------

    def generate_content(
        self,
        endpoint: str,
        contents: str | list[dict[str, Any]],
        *,
        generation_config: Mapping[str, Any] | None = None,
        system_instruction: Mapping[str, Any] | None = None,
    ) -> GenerateContentResponse:
        """Ask a tuned model (its `tunedModel.endpoint`) or a base model for an answer. Read-only, so retried.

        `endpoint` is an endpoint's resource name, or a base model's
        (`projects/P/locations/L/publishers/google/models/gemini-2.5-flash`).
        """
        _check(_GENERATE_TARGET_RE, endpoint, "endpoint", _GENERATE_SHAPE)
        method = _generate_method(endpoint, "generateContent")
        return self._generate(method, endpoint, contents, generation_config, system_instruction)

    def stream_generate_content(
        self,
        endpoint: str,
        contents: str | list[dict[str, Any]],
        *,
        generation_config: Mapping[str, Any] | None = None,
        system_instruction: Mapping[str, Any] | None = None,
    ) -> Iterator[GenerateContentResponse]:
        """Like `generate_content`, yielding chunks as the model produces them (`alt=sse`)."""
        _check(_GENERATE_TARGET_RE, endpoint, "endpoint", _GENERATE_SHAPE)
        method = _generate_method(endpoint, "streamGenerateContent")
        return self._stream_generate(method, endpoint, contents, generation_config, system_instruction)

    # -- metrics (metadata store and TensorBoard) ----------------------------------------------------------

    def get_context(self, name: str) -> dict[str, Any]:
        """A metadata Context (an experiment or a run) as a plain dict."""
        data = self._call("contexts.get", "GET", name, resource=name, retry=True)
        return _require_dict(data, "contexts.get", name)

    def list_contexts(self, metadata_store: str, *, filter: str | None = None) -> list[dict[str, Any]]:
        """Every Context of a metadata store matching `filter`, all pages."""
        return self._list_all(
            "contexts.list",
            f"{metadata_store}/contexts",
            "contexts",
            {"filter": filter or None, "pageSize": 100},
        )

    def list_time_series(self, tensorboard_run: str) -> list[dict[str, Any]]:
        """Every TensorBoard time series of a run, all pages."""
        return self._list_all(
            "tensorboardTimeSeries.list",
            f"{tensorboard_run}/timeSeries",
            "tensorboardTimeSeries",
            {"pageSize": 1000},
        )

    def batch_read_time_series(self, tensorboard: str, time_series: list[str]) -> list[dict[str, Any]]:
        """`timeSeriesData` for up to 20 time series of one TensorBoard (the SDK's batch size)."""
        if len(time_series) > 20:
            raise ValueError(
                f"batch_read_time_series reads at most 20 series at once, got {len(time_series)}"
            )
        data = self._call(
            "tensorboards.batchRead",
            "GET",
            f"{tensorboard}:batchRead",
            resource=tensorboard,
            retry=True,
            params={"timeSeries": time_series},
        )
        items = _require_dict(data, "tensorboards.batchRead", tensorboard).get("timeSeriesData", [])
        if not isinstance(items, list):
            raise MalformedResponseError(
                f"malformed response from tensorboards.batchRead on {tensorboard}: "
                "timeSeriesData is not a list",
                http_status=200,
                api=API,
                method="tensorboards.batchRead",
                resource=tensorboard,
            )
        return [item for item in items if isinstance(item, dict)]

    def read_tuning_metrics(self, job: TuningJob | str) -> TuningMetrics:
        """The latest value (and its step) of each training and validation metric of a job."""
        return read_tuning_metrics(self, self.get_tuning_job(job) if isinstance(job, str) else job)

    def _list_all(self, method: str, path: str, key: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        seen: set[str] = set()
        while True:
            data = _require_dict(
                self._call(
                    method, "GET", path, resource=path, retry=True, params={**params, "pageToken": token}
                ),
                method,
                path,
            )
            page = data.get(key, [])
            if isinstance(page, list):
                items.extend(item for item in page if isinstance(item, dict))
            next_token = data.get("nextPageToken") or None
            if not next_token or next_token in seen:
                return items
            seen.add(str(next_token))
            token = str(next_token)


def _parent(project: str, location: str) -> str:
    if not _SEGMENT_RE.match(project):
        raise ValueError(f"project must be a Google Cloud project id or number, got {project!r}")
    if not _SEGMENT_RE.match(location):
        raise ValueError(f"location must be a region such as us-central1, got {location!r}")
    return f"projects/{project}/locations/{location}"


def _check(pattern: re.Pattern[str], value: str, field: str, shape: str) -> None:
    if not pattern.match(value):
        raise ValueError(f"{field} must look like {shape}, got {value!r}")


def _generate_method(target: str, verb: str) -> str:
    """The method name a generation call reports: `endpoints.X` or `publishers.models.X`."""
    return f"endpoints.{verb}" if "/endpoints/" in target else f"publishers.models.{verb}"


def _require_dict(data: Any, method: str, resource: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedResponseError(
            f"malformed response from {method} on {resource}: "
            f"expected a JSON object, got {type(data).__name__}",
            http_status=200,
            api=API,
            method=method,
            resource=resource,
        )
    return data
