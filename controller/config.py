"""The operator's whole configuration, from flags and `VERTEXOPS_*` environment variables.

Every option is declared once in `OPTIONS`: its flag, its environment variable (the flag's name in upper
case with a `VERTEXOPS_` prefix), its default and its help. A flag wins over the environment, which wins
over the default, so a Helm chart can set the environment and a user can still override one value by hand.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from controller.api.tuningjob import PreflightMode
from controller.backends.tuningjob import VertexSettings
from controller.preflight import PreflightSettings
from controller.reconciler import ReconcilerSettings
from controller.runtime.config import RuntimeConfig


class OperatorConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def warnings(self) -> list[str]:
        """Settings that are allowed but weaken a guarantee; logged at start-up."""
        found = []
        if self.reconciler.create_grace_seconds <= self.google_timeout_seconds:
            found.append(
                f"--create-grace-seconds ({self.reconciler.create_grace_seconds:g}) is not above "
                f"--google-timeout-seconds ({self.google_timeout_seconds:g}): a create call that times out "
                "but still lands could be repeated after a restart, creating a second job"
            )
        return found

    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    vertex: VertexSettings = Field(default_factory=VertexSettings)
    reconciler: ReconcilerSettings = Field(default_factory=ReconcilerSettings)
    kubeconfig: str | None = None
    preflight: PreflightSettings = Field(default_factory=PreflightSettings)
    vertex_base_url: str | None = None
    gemini_base_url: str | None = None
    storage_base_url: str | None = None
    impersonate_service_account: str | None = None
    iam_base_url: str | None = None
    google_timeout_seconds: float = 60.0
    tenancy_strict: bool = False


@dataclass(frozen=True)
class Option:
    flag: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return "VERTEXOPS_" + self.dest.upper()


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _namespaces(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


OPTIONS: tuple[Option, ...] = (
    Option("--kubeconfig", None, "kubeconfig file; in-cluster configuration when unset (or $KUBECONFIG)"),
    Option("--project", None, "default Google Cloud project for resources that set no spec.projectID"),
    Option("--location", "us-central1", "default Vertex AI location for resources that set no spec.location"),
    Option("--namespaces", (), "comma-separated namespaces to watch; all namespaces when empty", _namespaces),
    Option(
        "--workers", 16, "concurrent reconciles per kind (mostly waiting on the API server and Google)", int
    ),
    Option("--poll-min-seconds", 15.0, "poll interval of a young or just-changed job", float),
    Option("--poll-max-seconds", 300.0, "poll interval of a job that has run for a long time", float),
    Option(
        "--metrics-interval-seconds", 120.0, "how often the training metrics of a running job are read", float
    ),
    Option(
        "--metrics-status-seconds",
        600.0,
        "new training metrics of a running job go to its status at most this often (Prometheus gets every "
        "value read; the first values, the first evaluation and the final read are written at once)",
        float,
    ),
    Option(
        "--create-grace-seconds",
        90.0,
        "wait after a create intent before trusting an empty search; keep it above --google-timeout-seconds",
        float,
    ),
    Option("--resync-seconds", 600.0, "every resource is reconciled at least this often", float),
    Option("--vertex-base-url", None, "send Vertex AI calls here instead of the regional hosts (emulator)"),
    Option("--gemini-base-url", None, "send Gemini API calls here instead of Google (emulator)"),
    Option(
        "--storage-base-url",
        None,
        "send Cloud Storage calls (the dataset preflight) here; --vertex-base-url when that is set",
    ),
    Option(
        "--preflight-default",
        PreflightMode.REQUIRED,
        "dataset preflight of a TuningJob that sets no spec.preflight.mode: Required, WarnOnly or Skip",
        PreflightMode,
    ),
    Option(
        "--preflight-recheck-seconds",
        60.0,
        "how often a TuningJob blocked by its dataset looks at the files again for a fixed upload",
        float,
    ),
    Option(
        "--fleet-name",
        "",
        "part of every tuning job's identity: clusters with different fleet names never adopt each other's "
        "jobs (leave empty so a cluster rebuilt from the same Git repository adopts the jobs it paid for)",
    ),
    Option("--impersonate-service-account", None, "Google service account to impersonate for every call"),
    Option(
        "--iam-base-url",
        None,
        "send IAM Credentials calls (minting tenants' tokens) here; --vertex-base-url when that is set",
    ),
    Option("--google-timeout-seconds", 60.0, "timeout of one call to a Google API", float),
    Option(
        "--tenancy-strict",
        False,
        "strict tenancy: a namespace no TuningTenant covers may create nothing on Google",
        _bool,
    ),
    Option("--leader-election", True, "run leader election so that only one replica reconciles", _bool),
    Option("--lease-namespace", "vertexops-system", "namespace of the leader-election Lease"),
    Option("--lease-name", "vertexops-controller", "name of the leader-election Lease"),
    Option("--lease-duration-seconds", 15.0, "how long followers wait before taking over", float),
    Option("--renew-deadline-seconds", 10.0, "how long the leader tries to renew before giving up", float),
    Option("--retry-period-seconds", 2.0, "pause between leader-election attempts", float),
    Option("--bind-address", "0.0.0.0", "address of the /healthz, /readyz and /metrics server"),
    Option("--http-port", 8080, "port of that server (0 picks a free one)", int),
    Option("--log-format", "json", "json or text"),
    Option("--log-level", "INFO", "DEBUG, INFO, WARNING or ERROR"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for option in OPTIONS:
        parser.add_argument(
            option.flag,
            dest=option.dest,
            type=option.parse,
            default=None,
            help=f"{option.help} (env {option.env}; default {option.default!r})",
        )


def resolve(args: argparse.Namespace, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Each option's value: flag, else environment, else default."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = getattr(args, option.dest, None)
        if value is None and env.get(option.env):
            try:
                value = option.parse(env[option.env])
            except (ValueError, argparse.ArgumentTypeError) as err:
                raise SystemExit(f"{option.env}: {err}") from err
        values[option.dest] = option.default if value is None else value
    return values


def from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> OperatorConfig:
    v = resolve(args, environ)
    kubeconfig = v["kubeconfig"] or (
        os.environ.get("KUBECONFIG") if environ is None else environ.get("KUBECONFIG")
    )
    return OperatorConfig(
        runtime=RuntimeConfig(
            workers=v["workers"],
            namespaces=v["namespaces"],
            resync_period_seconds=v["resync_seconds"],
            leader_election=v["leader_election"],
            lease_namespace=v["lease_namespace"],
            lease_name=v["lease_name"],
            lease_duration_seconds=v["lease_duration_seconds"],
            renew_deadline_seconds=v["renew_deadline_seconds"],
            retry_period_seconds=v["retry_period_seconds"],
            bind_address=v["bind_address"],
            http_port=v["http_port"],
            log_format=v["log_format"],
            log_level=v["log_level"].upper(),
        ),
        vertex=VertexSettings(
            default_project=v["project"],
            default_location=v["location"],
            poll_min_seconds=v["poll_min_seconds"],
            poll_max_seconds=v["poll_max_seconds"],
            metrics_interval_seconds=v["metrics_interval_seconds"],
            metrics_status_seconds=v["metrics_status_seconds"],
            fleet_name=v["fleet_name"],
        ),
        reconciler=ReconcilerSettings(create_grace_seconds=v["create_grace_seconds"]),
        preflight=PreflightSettings(
            default_mode=PreflightMode(v["preflight_default"]),
            recheck_seconds=v["preflight_recheck_seconds"],
        ),
        kubeconfig=kubeconfig or None,
        vertex_base_url=v["vertex_base_url"],
        gemini_base_url=v["gemini_base_url"],
        storage_base_url=v["storage_base_url"] or v["vertex_base_url"],
        impersonate_service_account=v["impersonate_service_account"],
        iam_base_url=v["iam_base_url"] or v["vertex_base_url"],
        google_timeout_seconds=v["google_timeout_seconds"],
        tenancy_strict=v["tenancy_strict"],
    )
