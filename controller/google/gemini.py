"""Client for the Gemini API v1beta `tunedModels` surface and its operations.

This surface is legacy (no base model has been tunable there since 2025) but still served; we keep it so
existing tuned models can be managed from Git. Unlike Vertex, the caller chooses the id (`tunedModelId`), so
`create` is safe to retry: a repeat of a create that did land is rejected with 409 ALREADY_EXISTS.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import httpx

from controller.google.auth import CLOUD_PLATFORM_SCOPE, Auth, application_default_auth
from controller.google.errors import MalformedResponseError
from controller.google.hints import gemini_hint
from controller.google.models_common import GenerateContentResponse, parse_model
from controller.google.models_gemini import (
    PATCHABLE_FIELDS,
    GeminiTunedModel,
    GeminiTunedModelCreate,
    GeminiTunedModelPage,
    Operation,
)
from controller.google.rest_client import RestClient
from controller.google.retry import RetryPolicy
from controller.google.transport import DEFAULT_TIMEOUT, Observer

API = "generativelanguage"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
TUNING_SCOPE = "https://www.googleapis.com/auth/generative-language.tuning"

TUNED_MODEL_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")
_MODEL_NAME_RE = re.compile(r"^tunedModels/[a-z0-9-]+$")
_BASE_MODEL_NAME_RE = re.compile(r"^models/[A-Za-z0-9][A-Za-z0-9._-]*$")
_OPERATION_NAME_RE = re.compile(r"^tunedModels/[a-z0-9-]+/operations/[A-Za-z0-9_-]+$")


def tuned_model_name(name_or_id: str) -> str:
    """`tunedModels/{id}` from either the full name or the bare id."""
    name = name_or_id if name_or_id.startswith("tunedModels/") else f"tunedModels/{name_or_id}"
    if not _MODEL_NAME_RE.match(name):
        raise ValueError(f"tuned model name must look like tunedModels/{{id}}, got {name_or_id!r}")
    return name


def generation_model_name(name: str) -> str:
    """A tuned model (`tunedModels/{id}`, or a bare id) or a base model (`models/{model}`), for generation."""
    if _BASE_MODEL_NAME_RE.match(name):
        return name
    return tuned_model_name(name)


def _generate_method(name: str, verb: str) -> str:
    return f"models.{verb}" if name.startswith("models/") else f"tunedModels.{verb}"


class GeminiClient(RestClient):
    """Gemini API v1beta over REST. Safe to share between threads.

    `auth` is usually an `ApiKeyAuth`; OAuth credentials work too. Without `auth`, ADC with the
    cloud-platform and generative-language.tuning scopes is used, wherever the calls go.
    """

    def __init__(
        self,
        *,
        auth: Auth | None = None,
        base_url: str | None = None,
        api_version: str = "v1beta",
        retry: RetryPolicy | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        generate_timeout: float = 600.0,
        observer: Observer | None = None,
        http_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if auth is None:
            auth = application_default_auth(scopes=(CLOUD_PLATFORM_SCOPE, TUNING_SCOPE))
        self._base = f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/{api_version}"
        super().__init__(
            api=API,
            auth=auth,
            hint=gemini_hint(auth.kind),
            retry=retry,
            timeout=timeout,
            generate_timeout=generate_timeout,
            observer=observer,
            http_client=http_client,
            sleep=sleep,
        )

    def __repr__(self) -> str:
        return f"GeminiClient(base={self._base!r}, auth={self._transport.auth!r})"

    def _url(self, path: str) -> str:
        return f"{self._base}/{path}"

    # -- tunedModels ---------------------------------------------------------------------------------------

    def create_tuned_model(
        self, model: GeminiTunedModelCreate | Mapping[str, Any], *, tuned_model_id: str | None = None
    ) -> Operation:
        """Start tuning; returns the long-running operation (poll it with `get_operation`).

        With a `tuned_model_id` the call is retried on 429/5xx/transport errors: a retry of a create that
        already landed fails with `AlreadyExistsError`, which the caller reads as "it exists". Without one
        the server picks the id, so a retry could create a second model and none is made.
        """
        if tuned_model_id is not None and not TUNED_MODEL_ID_RE.match(tuned_model_id):
            raise ValueError(
                "tuned_model_id must be 1-40 lowercase letters, digits or '-', start with a letter and "
                f"not end with '-', got {tuned_model_id!r}"
            )
        body = model.to_api() if isinstance(model, GeminiTunedModelCreate) else dict(model)
        resource = f"tunedModels/{tuned_model_id}" if tuned_model_id else "tunedModels"
        data = self._call(
            "tunedModels.create",
            "POST",
            "tunedModels",
            resource=resource,
            retry=tuned_model_id is not None,
            params={"tunedModelId": tuned_model_id},
            body=body,
        )
        return parse_model(Operation, data, "tunedModels.create", resource, api=API)

    def get_tuned_model(self, name: str) -> GeminiTunedModel:
        name = tuned_model_name(name)
        data = self._call("tunedModels.get", "GET", name, resource=name, retry=True)
        return parse_model(GeminiTunedModel, data, "tunedModels.get", name, api=API)

    def list_tuned_models_page(
        self, *, filter: str | None = None, page_size: int | None = None, page_token: str | None = None
    ) -> GeminiTunedModelPage:
        params = {"filter": filter or None, "pageSize": page_size, "pageToken": page_token or None}
        data = self._call(
            "tunedModels.list", "GET", "tunedModels", resource="tunedModels", retry=True, params=params
        )
        return parse_model(GeminiTunedModelPage, data, "tunedModels.list", "tunedModels", api=API)

    def iter_tuned_models(
        self, *, filter: str | None = None, page_size: int | None = None
    ) -> Iterator[GeminiTunedModel]:
        """Every tuned model visible to the caller, fetching pages until no `nextPageToken` comes back."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_tuned_models_page(filter=filter, page_size=page_size, page_token=token)
            yield from page.tuned_models
            if not page.next_page_token:
                return
            if page.next_page_token in seen:
                raise MalformedResponseError(
                    "malformed response from tunedModels.list: the server repeated a nextPageToken",
                    http_status=200,
                    api=API,
                    method="tunedModels.list",
                    resource="tunedModels",
                )
            seen.add(page.next_page_token)
            token = page.next_page_token

    def list_tuned_models(
        self, *, filter: str | None = None, page_size: int | None = None
    ) -> list[GeminiTunedModel]:
        return list(self.iter_tuned_models(filter=filter, page_size=page_size))

    def patch_tuned_model(
        self, name: str, fields: Mapping[str, Any], update_mask: Sequence[str]
    ) -> GeminiTunedModel:
        """Change only the fields named in `update_mask` (camelCase, e.g. `["description", "topK"]`).

        Setting the same values twice is harmless, so the call is retried on transient errors.
        """
        name = tuned_model_name(name)
        if not update_mask:
            raise ValueError("update_mask must name at least one field")
        unknown = sorted(set(update_mask) - PATCHABLE_FIELDS)
        if unknown:
            raise ValueError(
                f"update_mask names fields the Gemini API cannot patch: {', '.join(unknown)} "
                f"(patchable: {', '.join(sorted(PATCHABLE_FIELDS))})"
            )
        data = self._call(
            "tunedModels.patch",
            "PATCH",
            name,
            resource=name,
            retry=True,
            params={"updateMask": ",".join(update_mask)},
            body=dict(fields),
        )
        return parse_model(GeminiTunedModel, data, "tunedModels.patch", name, api=API)

    def delete_tuned_model(self, name: str) -> None:
        """Delete a tuned model. Retried on transient errors; a repeat after success raises NotFoundError."""
        name = tuned_model_name(name)
        self._call("tunedModels.delete", "DELETE", name, resource=name, retry=True)

    def get_operation(self, name: str) -> Operation:
        if not _OPERATION_NAME_RE.match(name):
            raise ValueError(
                f"operation name must look like tunedModels/{{id}}/operations/{{op}}, got {name!r}"
            )
        data = self._call("tunedModels.operations.get", "GET", name, resource=name, retry=True)
        return parse_model(Operation, data, "tunedModels.operations.get", name, api=API)

    # -- generation ------------------------------------------------------------------------------------------

    def generate_content(
        self,
        model: str,
        contents: str | list[dict[str, Any]],
        *,
        generation_config: Mapping[str, Any] | None = None,
        system_instruction: Mapping[str, Any] | None = None,
    ) -> GenerateContentResponse:
        """An answer from a tuned model (`tunedModels/{id}`) or a base model (`models/{model}`)."""
        name = generation_model_name(model)
        method = _generate_method(name, "generateContent")
        return self._generate(method, name, contents, generation_config, system_instruction)

    def stream_generate_content(
        self,
        model: str,
        contents: str | list[dict[str, Any]],
        *,
        generation_config: Mapping[str, Any] | None = None,
        system_instruction: Mapping[str, Any] | None = None,
    ) -> Iterator[GenerateContentResponse]:
        """Chunks of the answer as Server-Sent Events (`alt=sse`)."""
        name = generation_model_name(model)
        method = _generate_method(name, "streamGenerateContent")
        return self._stream_generate(method, name, contents, generation_config, system_instruction)
