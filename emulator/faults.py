"""Fault injection: make chosen API methods fail, slow down, drop the connection or answer garbage.

Rules are matched against the API method name of each request (`tuningJobs.list`, `tunedModels.*`, `*`).
A rule fires for the next `times` matching calls (or forever), each time with `probability`, drawn from the
emulator's seeded random generator so a run is repeatable.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
import threading
from dataclasses import dataclass, field
from typing import Any

#: Kinds that replace the response (the first one that fires wins).
RESPONSE_KINDS = frozenset({"status", "drop", "malformed", "permission_denied"})
#: Kinds that alter a successful response's body (all that fire apply).
MUTATION_KINDS = frozenset({"unknown_state", "missing_fields"})
FAULT_KINDS = RESPONSE_KINDS | MUTATION_KINDS | {"latency"}

_ids = itertools.count(1)


@dataclass
class FaultRule:
    """One fault. `kind` is one of FAULT_KINDS; the other fields apply to the kinds that name them.

    - status: answer `status` (429 adds a `Retry-After` header and a RetryInfo detail of
      `retry_after_seconds`).
    - drop: close the connection without answering.
    - latency: wait `latency_seconds` (real seconds) before handling; any rule may also set it.
    - malformed: answer 200 with a body that is not JSON.
    - unknown_state: replace every `state` in the body with `state`.
    - missing_fields: remove `fields` from every resource in the body.
    - permission_denied: 403 PERMISSION_DENIED naming `permission` (default: the method's own).
    """

    kind: str
    method: str = "*"
    status: int = 503
    times: int | None = None
    probability: float = 1.0
    latency_seconds: float = 0.0
    retry_after_seconds: float | None = None
    message: str | None = None
    fields: list[str] = field(default_factory=lambda: ["name", "state"])
    state: str | None = None
    permission: str | None = None
    id: str = field(default_factory=lambda: f"fault-{next(_ids)}")
    hits: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(sorted(FAULT_KINDS))}, got {self.kind!r}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {self.probability}")
        if self.times is not None and self.times < 0:
            raise ValueError(f"times must be >= 0, got {self.times}")
        if self.kind == "status" and not 400 <= self.status <= 599:
            raise ValueError(f"a status fault needs an HTTP error status 400-599, got {self.status}")
        if self.latency_seconds < 0:
            raise ValueError("latencySeconds must not be negative")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        names = {
            "kind": "kind",
            "method": "method",
            "status": "status",
            "times": "times",
            "probability": "probability",
            "latencySeconds": "latency_seconds",
            "retryAfterSeconds": "retry_after_seconds",
            "message": "message",
            "fields": "fields",
            "state": "state",
            "permission": "permission",
        }
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        if "kind" not in data:
            raise ValueError("a fault needs a kind")
        return cls(**{names[k]: v for k, v in data.items()})

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "status": self.status,
            "times": self.times,
            "probability": self.probability,
            "latencySeconds": self.latency_seconds,
            "retryAfterSeconds": self.retry_after_seconds,
            "message": self.message,
            "fields": self.fields,
            "state": self.state,
            "permission": self.permission,
            "hits": self.hits,
        }


class FaultInjector:
    """The active rules; thread-safe."""

    def __init__(self, rng: random.Random) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rng = rng

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def fire(self, method: str) -> list[FaultRule]:
        """The rules that fire for one call of `method`, counting it against their `times`."""
        fired: list[FaultRule] = []
        with self._lock:
            for rule in self._rules:
                if not fnmatch.fnmatchcase(method, rule.method):
                    continue
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                rule.hits += 1
                fired.append(rule)
            self._rules = [r for r in self._rules if r.times is None or r.times > 0]
        return fired


@dataclass
class JobFailureRule:
    """Make matching new jobs (Vertex tuning jobs or Gemini tuned models) fail partway.

    Matches on `display_name` (a glob over `tunedModelDisplayName` / `displayName`; None matches all) with
    `probability`, for the next `times` jobs (None: every one). The job fails after `at_fraction` of its
    steps with `message`.
    """

    display_name: str | None = None
    probability: float = 1.0
    at_fraction: float = 0.5
    message: str = "Tuning failed: the training run stopped with an internal error. Please retry."
    times: int | None = None
    api: str = "*"

    def __post_init__(self) -> None:
        if not 0.0 <= self.at_fraction <= 1.0:
            raise ValueError(f"atFraction must be between 0 and 1, got {self.at_fraction}")
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {self.probability}")
        if self.api not in ("*", "vertex", "gemini"):
            raise ValueError(f"api must be vertex, gemini or *, got {self.api!r}")


class JobFailures:
    """The active job-failure rules; thread-safe."""

    def __init__(self, rng: random.Random) -> None:
        self._rules: list[JobFailureRule] = []
        self._lock = threading.Lock()
        self._rng = rng

    def add(self, rule: JobFailureRule) -> JobFailureRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def decide(self, api: str, display_name: str) -> JobFailureRule | None:
        """The rule that makes a new job fail, if any (its `times` is counted down)."""
        with self._lock:
            for rule in self._rules:
                if rule.api not in ("*", api) or (rule.times is not None and rule.times <= 0):
                    continue
                if rule.display_name is not None and not fnmatch.fnmatchcase(display_name, rule.display_name):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return rule
        return None
