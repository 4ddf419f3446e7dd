"""The runtime's knobs in one model, meant to be embedded in the operator's full configuration.

Only what the runtime itself uses lives here (workers, namespaces, resync, leader election, the health and
metrics port, logging); Google-specific settings belong to the operator's own configuration. Defaults are
the ones a single production replica wants; tests shorten the durations.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    workers: int = Field(16, ge=1, le=256, description="Concurrent reconciles per kind.")
    namespaces: tuple[str, ...] = Field(
        (), description="Namespaces to watch; empty means all namespaces (cluster-wide RBAC needed)."
    )
    resync_period_seconds: float | None = Field(
        600.0,
        gt=0,
        description="Every object is re-enqueued this often even without a change; None turns it off.",
    )
    watch_timeout_seconds: int = Field(
        300,
        ge=1,
        description="Server-side watch timeout; each watch picks a value between this and twice it.",
    )
    list_page_size: int = Field(500, ge=1, description="Objects per page when listing (limit/continue).")

    leader_election: bool = Field(True, description="Off for a single replica or tests.")
    lease_namespace: str = Field("vertexops-system", min_length=1)
    lease_name: str = Field("vertexops-controller", min_length=1)
    lease_duration_seconds: float = Field(
        15.0, gt=0, description="How long followers wait after the last renewal before taking over."
    )
    renew_deadline_seconds: float = Field(
        10.0, gt=0, description="The leader gives up leading when it cannot renew for this long."
    )
    retry_period_seconds: float = Field(2.0, gt=0, description="Pause between acquire and renew attempts.")

    bind_address: str = Field("0.0.0.0", description="Address of the /healthz, /readyz and /metrics server.")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of that server; 0 picks a free one.")

    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    shutdown_timeout_seconds: float = Field(
        30.0, gt=0, description="How long in-flight reconciles may run after SIGTERM before the exit."
    )
    requeue_base_delay_seconds: float = Field(
        0.005, gt=0, description="First retry delay after a failed reconcile; doubles on each failure."
    )
    requeue_max_delay_seconds: float = Field(300.0, gt=0, description="Upper bound of that retry delay.")

    @model_validator(mode="after")
    def _check_durations(self) -> RuntimeConfig:
        if self.leader_election:
            if self.renew_deadline_seconds >= self.lease_duration_seconds:
                raise ValueError(
                    "renew_deadline_seconds must be shorter than lease_duration_seconds, or a follower could "
                    "take over while the leader still believes it leads"
                )
            if self.retry_period_seconds >= self.renew_deadline_seconds:
                raise ValueError(
                    "retry_period_seconds must be shorter than renew_deadline_seconds, so a leader gets more "
                    "than one renewal attempt before it gives up"
                )
        if self.requeue_base_delay_seconds > self.requeue_max_delay_seconds:
            raise ValueError("requeue_base_delay_seconds must not exceed requeue_max_delay_seconds")
        return self
