"""Which resource a console command is about: `tj/NAME` or `tunedmodel/NAME`, read with the user's kubeconfig.

The flags are kubectl's (`--kubeconfig`, `--context`, `-n`), so the same command line works as
`vertexops prompt` and as the kubectl plugin `kubectl vertexops prompt`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException

from controller.api.resource import GROUP, VERSION

#: What a user may type before the slash, as kubectl accepts it (kind, singular, plural, short name).
KIND_ALIASES: dict[str, str] = {
    "tj": "TuningJob",
    "tuningjob": "TuningJob",
    "tuningjobs": "TuningJob",
    f"tuningjob.{GROUP}": "TuningJob",
    f"tuningjobs.{GROUP}": "TuningJob",
    "tm": "TunedModel",
    "tunedmodel": "TunedModel",
    "tunedmodels": "TunedModel",
    f"tunedmodel.{GROUP}": "TunedModel",
    f"tunedmodels.{GROUP}": "TunedModel",
}
PLURALS = {"TuningJob": "tuningjobs", "TunedModel": "tunedmodels"}


class ConsoleError(Exception):
    """A failure the user can act on, shown as one line (and a non-zero exit)."""


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """RESOURCE and kubectl's connection flags, plus where Google is (the operator's variables)."""
    parser.add_argument("resource", metavar="RESOURCE", help="tj/NAME (a TuningJob) or tunedmodel/NAME")
    parser.add_argument("-n", "--namespace", help="namespace of the resource (default: the context's)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", help="kubeconfig context to use (default: the current one)")
    parser.add_argument(
        "--vertex-base-url",
        default=os.environ.get("VERTEXOPS_VERTEX_BASE_URL") or None,
        help="send Vertex AI calls here instead of Google (the emulator; env VERTEXOPS_VERTEX_BASE_URL)",
    )
    parser.add_argument(
        "--gemini-base-url",
        default=os.environ.get("VERTEXOPS_GEMINI_BASE_URL") or None,
        help="send Gemini API calls here instead of Google (env VERTEXOPS_GEMINI_BASE_URL)",
    )


def parse_resource(text: str) -> tuple[str, str]:
    """(kind, name) of `tj/NAME`; a clear error for anything else."""
    kind_text, slash, name = text.partition("/")
    kind = KIND_ALIASES.get(kind_text.lower())
    if not slash or not name or kind is None or "/" in name:
        raise ConsoleError(
            f"resource {text!r} must be tj/NAME (a TuningJob) or tunedmodel/NAME (a TunedModel)"
        )
    return kind, name


@dataclass
class Target:
    """A resource as the cluster holds it, and the API client that read it."""

    kind: str
    name: str
    namespace: str
    obj: dict[str, Any]
    api: k8s.ApiClient

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}/{self.name}"

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def status(self) -> dict[str, Any]:
        status = self.obj.get("status")
        return status if isinstance(status, dict) else {}

    def condition(self, type_: str) -> dict[str, Any]:
        for c in self.status.get("conditions") or []:
            if isinstance(c, dict) and c.get("type") == type_:
                return c
        return {}

    def refresh(self) -> None:
        self.obj = _get(self.api, self.kind, self.name, self.namespace)

    def require_ready(self) -> None:
        """Refuse, with the operator's own explanation, a resource whose model cannot answer yet."""
        ready = self.condition("Ready")
        if ready.get("status") == "True":
            return
        state = self.status.get("state") or "no state yet"
        progress = self.status.get("progress") or (
            f"{self.status['completedPercent']:g}%" if "completedPercent" in self.status else None
        )
        stalled = self.condition("Stalled")
        why = ready.get("message") or stalled.get("message") or ""
        where = f"{state}, {progress}" if progress else state
        # A failed job will never answer: say so rather than "yet".
        verdict = (
            "is not Ready and will not be without a change"
            if stalled.get("status") == "True"
            else ("is not Ready yet")
        )
        raise ConsoleError(
            f"{self.ref} in namespace {self.namespace} {verdict} ({where})" + (f": {why}" if why else "")
        )

    def read_secret_key(self, name: str, key: str) -> str | None:
        """The text under `key` of Secret `name`, or None when the user may not read it (or it is absent)."""
        try:
            secret = k8s.CoreV1Api(self.api).read_namespaced_secret(name, self.namespace)
        except k8s.ApiException as err:
            if err.status in (403, 404):
                return None
            raise ConsoleError(
                f"reading Secret {name} in namespace {self.namespace}: {_reason(err)}"
            ) from None
        encoded = (secret.data or {}).get(key)
        if not encoded:
            return None
        try:
            return base64.b64decode(encoded, validate=True).decode("utf-8").strip() or None
        except (binascii.Error, UnicodeDecodeError):
            return None


def connect(args: argparse.Namespace) -> tuple[k8s.ApiClient, str]:
    """The API client and namespace for kubectl's flags, as kubectl would pick them."""
    try:
        api = k8s_config.new_client_from_config(config_file=args.kubeconfig, context=args.context)
        if args.namespace:
            return api, str(args.namespace)
        contexts, current = k8s_config.list_kube_config_contexts(config_file=args.kubeconfig)
        chosen = (
            next((c for c in contexts if c["name"] == args.context), current) if args.context else current
        )
        namespace = ((chosen or {}).get("context") or {}).get("namespace") or "default"
        return api, str(namespace)
    except (ConfigException, OSError) as err:
        raise ConsoleError(f"cannot load the kubeconfig: {err}") from None


def load_target(args: argparse.Namespace) -> Target:
    kind, name = parse_resource(args.resource)
    api, namespace = connect(args)
    return Target(kind, name, namespace, _get(api, kind, name, namespace), api)


def _get(api: k8s.ApiClient, kind: str, name: str, namespace: str) -> dict[str, Any]:
    try:
        obj: dict[str, Any] = k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind], name
        )
        return obj
    except k8s.ApiException as err:
        if err.status == 404:
            raise ConsoleError(f'{kind.lower()} "{name}" not found in namespace {namespace}') from None
        raise ConsoleError(
            f"reading {kind.lower()}/{name} in namespace {namespace}: {_reason(err)}"
        ) from None
    except OSError as err:
        raise ConsoleError(f"cannot reach the Kubernetes API server: {err}") from None


def _reason(err: k8s.ApiException) -> str:
    """The API server's own message (e.g. RBAC's "... cannot get resource ..."), else the HTTP reason."""
    import json  # noqa: PLC0415

    try:
        body = json.loads(err.body or "")
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return f"HTTP {err.status} {err.reason}"
