"""The models a console command talks to, with the user's credentials, found from a resource's status.

Credentials come the way the operator loads its own (`manager_cli.google_auth` / `gemini_auth`: Application
Default Credentials, or what the operator uses against the emulator), so whatever changes there applies
here too. A TunedModel's API key is used when its Secret is readable by the user; otherwise ADC.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from controller.config import OperatorConfig
from controller.console.target import ConsoleError, Target
from controller.google.auth import ApiKeyAuth, Auth
from controller.google.gemini import GeminiClient
from controller.google.models_common import GenerateContentResponse
from controller.google.retry import RetryPolicy
from controller.google.vertex import VertexClient

# An interactive user would rather see an error than wait two minutes of back-off.
CONSOLE_RETRY = RetryPolicy(max_attempts=3, total_timeout=20.0)


@dataclass
class Model:
    """One model that answers prompts: a tuned endpoint or model, or the base model it was tuned from."""

    label: str  # how the console names it to the user
    resource: str  # the Google resource name generateContent is called on
    client: VertexClient | GeminiClient

    def stream(
        self,
        contents: list[dict[str, Any]],
        generation_config: dict[str, Any] | None = None,
        system: str | None = None,
    ) -> Iterator[GenerateContentResponse]:
        system_instruction = {"parts": [{"text": system}]} if system else None
        yield from self.client.stream_generate_content(
            self.resource,
            contents,
            generation_config=generation_config,
            system_instruction=system_instruction,
        )

    def generate(
        self,
        contents: list[dict[str, Any]],
        generation_config: dict[str, Any] | None = None,
        system: str | None = None,
    ) -> GenerateContentResponse:
        """One whole answer (`generateContent`)."""
        system_instruction = {"parts": [{"text": system}]} if system else None
        return self.client.generate_content(
            self.resource,
            contents,
            generation_config=generation_config,
            system_instruction=system_instruction,
        )


def vertex_client(args: argparse.Namespace) -> VertexClient:
    from controller import manager_cli  # noqa: PLC0415 - the operator's imports only when Google is called

    cfg = OperatorConfig(vertex_base_url=args.vertex_base_url)
    return VertexClient(
        auth=_load(manager_cli.google_auth, cfg), base_url=cfg.vertex_base_url, retry=CONSOLE_RETRY
    )


def gemini_client(args: argparse.Namespace, target: Target) -> GeminiClient:
    from controller import manager_cli  # noqa: PLC0415

    cfg = OperatorConfig(gemini_base_url=args.gemini_base_url)
    ref = target.spec.get("apiKeySecretRef") or {}
    key = (
        target.read_secret_key(str(ref["name"]), str(ref["key"]))
        if ref.get("name") and ref.get("key")
        else None
    )
    auth: Auth | None = ApiKeyAuth(key) if key else _load(manager_cli.gemini_auth, cfg)
    return GeminiClient(auth=auth, base_url=cfg.gemini_base_url, retry=CONSOLE_RETRY)


def _load(loader: Callable[[OperatorConfig], Auth | None], cfg: OperatorConfig) -> Auth | None:
    from google.auth import exceptions as auth_exceptions  # noqa: PLC0415

    try:
        auth: Auth | None = loader(cfg)
        return auth
    except auth_exceptions.GoogleAuthError as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConsoleError(
            f"no Google credentials ({first}); run `gcloud auth application-default login` or set "
            "GOOGLE_APPLICATION_CREDENTIALS"
        ) from None


def _job_parent(target: Target) -> str:
    name = str(target.status.get("name") or "")
    parts = name.split("/")
    if len(parts) < 4 or parts[0] != "projects" or parts[2] != "locations":
        raise ConsoleError(f"{target.ref} has no Vertex AI job yet (status.name is empty)")
    return "/".join(parts[:4])


def tuned_model(target: Target, args: argparse.Namespace, checkpoint: str | None = None) -> Model:
    """The tuned model of a Ready resource (a TuningJob's endpoint, or one checkpoint's)."""
    target.require_ready()
    if target.kind == "TunedModel":
        if checkpoint:
            raise ConsoleError("--checkpoint applies to a TuningJob; a TunedModel has no checkpoints")
        name = str(target.status.get("name") or "")
        if not name:
            raise ConsoleError(f"{target.ref} has no Gemini API model name in status yet")
        return Model(f"tuned {target.ref}", name, gemini_client(args, target))
    tuned = target.status.get("tunedModel") or {}
    endpoint = tuned.get("endpoint")
    if checkpoint:
        found = [c for c in tuned.get("checkpoints") or [] if str(c.get("checkpointId")) == checkpoint]
        with_endpoint = [str(c["checkpointId"]) for c in tuned.get("checkpoints") or [] if c.get("endpoint")]
        if not found:
            raise ConsoleError(
                f"{target.ref} has no checkpoint {checkpoint!r}; its checkpoints with an endpoint: "
                + (", ".join(with_endpoint) or "none")
            )
        endpoint = found[0].get("endpoint")
        if not endpoint:
            raise ConsoleError(
                f"checkpoint {checkpoint} of {target.ref} has no endpoint of its own; checkpoints with an "
                "endpoint: " + (", ".join(with_endpoint) or "none")
            )
    if not endpoint:
        raise ConsoleError(f"{target.ref} is Ready but status.tunedModel.endpoint is empty")
    label = f"tuned {target.ref}" + (f" (checkpoint {checkpoint})" if checkpoint else "")
    return Model(label, str(endpoint), vertex_client(args))


def base_model(target: Target, args: argparse.Namespace) -> Model:
    """The base model the resource was tuned from, as its API serves it."""
    base = str(target.spec.get("baseModel") or "")
    if target.kind == "TunedModel":
        if not base:
            raise ConsoleError(f"{target.ref} is tuned from another tuned model; it names no base model")
        name = base if base.startswith("models/") else f"models/{base}"
        return Model(f"base {name.removeprefix('models/')}", name, gemini_client(args, target))
    model_id = base.rsplit("/", 1)[-1]
    publisher = "google"
    if "/publishers/" in f"/{base}":
        publisher = base.split("publishers/", 1)[1].split("/", 1)[0]
    name = f"{_job_parent(target)}/publishers/{publisher}/models/{model_id}"
    return Model(f"base {model_id}", name, vertex_client(args))
