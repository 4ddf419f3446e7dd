"""Settings of one emulator instance: speed, job phase lengths, authentication, seed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class EmulatorConfig:
    """Durations are in simulated seconds (see `SimClock`).

    A Vertex job waits `pending_seconds` in PENDING, then runs its steps at `step_seconds` each; its step
    count comes from its data (example count and epochs) unless `total_steps` fixes it. Cancellation takes
    `cancel_seconds` in CANCELLING. A Gemini tuned model trains at `gemini_step_seconds` per step.
    """

    time_scale: float = 1.0
    #: the simulated UNIX time the clock starts at (None: the real time). A start in the past lets a
    #: benchmark create jobs hours ago and `advance` to the present, so they are as old as in production.
    clock_start: float | None = None
    seed: int = 0
    pending_seconds: float = 60.0
    step_seconds: float = 5.0
    total_steps: int | None = None
    cancel_seconds: float = 10.0
    gemini_step_seconds: float = 2.0
    gemini_total_steps: int | None = None
    #: real (not simulated) seconds between the chunks of a streamed answer, so a client can be seen
    #: printing the first chunk before the last one is sent.
    stream_chunk_seconds: float = 0.05
    #: project id -> project number; ids not listed get a stable number derived from the id.
    project_numbers: dict[str, str] = field(default_factory=dict)
    #: when True a request without any credential gets Google's 401/403 answer.
    require_auth: bool = True
    #: when set, only these bearer tokens / API keys are valid; otherwise any non-empty one is.
    valid_credentials: list[str] | None = None
    list_default_page_size: int = 100
    list_max_page_size: int = 1000
    request_log_limit: int = 100_000
    #: write timestamps as the real time each simulated instant maps to (see `SimClock.wall`), for benchmarks
    #: at a constant time scale: a client's job ages then scale like its intervals. Fixed at start.
    wall_clock_timestamps: bool = False

    def project_number(self, project: str) -> str:
        """The number Vertex shows in resource names for `project` (a number stays itself)."""
        if project.isdigit():
            return project
        if project in self.project_numbers:
            return self.project_numbers[project]
        digest = hashlib.sha256(project.encode()).digest()
        return str(100_000_000_000 + int.from_bytes(digest[:8], "big") % 900_000_000_000)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `{"timeScale": 60, "stepSeconds": 1, ...}` (camelCase or snake_case) from the control API."""
        by_name = {f.name: f for f in fields(self)}
        for key, value in changes.items():
            name = _snake(key)
            if name not in by_name:
                raise ValueError(f"unknown emulator setting {key!r}; known: {', '.join(sorted(by_name))}")
            current = getattr(self, name)
            if isinstance(current, bool) and not isinstance(value, bool):
                raise ValueError(f"setting {key!r} must be true or false")
            if isinstance(current, float) and isinstance(value, int | float) and not isinstance(value, bool):
                setattr(self, name, float(value))
            else:
                setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        out = {_camel(f.name): getattr(self, f.name) for f in fields(self)}
        out.pop("validCredentials", None)  # never echo credentials
        return out


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
