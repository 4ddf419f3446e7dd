"""Simulated time for the emulator.

Tuning jobs run for hours; tests and demos cannot wait that long. Every lifecycle in the emulator reads this
clock, which runs `time_scale` simulated seconds per real second and can be pushed forward at will, so a
30-minute job can finish in 30 real seconds (scale 60) or instantly (`advance(1800)`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


class SimClock:
    """Simulated UNIX time: starts at the real time of creation (or `start`), then runs scaled."""

    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale < 0:
            raise ValueError(f"time_scale must not be negative, got {time_scale}")
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._base_sim = time.time() if start is None else start
        self._base_real = monotonic()
        self._scale = time_scale

    @property
    def time_scale(self) -> float:
        return self._scale

    def now(self) -> float:
        with self._lock:
            return self._base_sim + (self._monotonic() - self._base_real) * self._scale

    def advance(self, seconds: float) -> float:
        """Jump forward by `seconds` simulated seconds; returns the new time. Time never goes backwards."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; advanceSeconds must be >= 0, got {seconds}")
        with self._lock:
            self._base_sim += seconds
            return self._base_sim + (self._monotonic() - self._base_real) * self._scale

    def set_time_scale(self, time_scale: float) -> None:
        """Change speed from now on, without a jump in the current time."""
        if time_scale < 0:
            raise ValueError(f"timeScale must not be negative, got {time_scale}")
        with self._lock:
            real = self._monotonic()
            self._base_sim += (real - self._base_real) * self._scale
            self._base_real = real
            self._scale = time_scale


@dataclass(frozen=True)
class WallMapping:
    """Simulated instants mapped to the real time at which they happen at a constant speed.

    For benchmarks that run the clock fast (`EmulatorConfig.wall_clock_timestamps`): a client that
    computes a job's age from its timestamps against its own clock then sees the age in real seconds, which
    is the simulated age divided by the scale, just as its own intervals are. Fixed when made, so a given
    instant always maps to the same timestamp (a later `advance` or change of speed is not followed).
    """

    sim_base: float
    wall_base: float
    scale: float

    @classmethod
    def of(cls, clock: SimClock) -> WallMapping:
        if clock.time_scale <= 0:
            raise ValueError("wall-clock timestamps need a running clock (time scale > 0)")
        return cls(clock.now(), time.time(), clock.time_scale)

    def wall(self, seconds: float) -> float:
        return self.wall_base + (seconds - self.sim_base) / self.scale


# The mapping every timestamp the emulator writes goes through; none, the default, writes simulated times.
# One emulator per process sets it (see `Emulator.start`).
_wall_mapping: list[WallMapping] = []


def write_wall_clock_timestamps(mapping: WallMapping | None) -> None:
    """From now on write every timestamp as the real time `mapping` gives (None: simulated times)."""
    _wall_mapping[:] = [mapping] if mapping is not None else []


def rfc3339(seconds: float) -> str:
    """A UNIX time as Google writes timestamps: RFC 3339, UTC, `Z`, microseconds only when non-zero."""
    if _wall_mapping:
        seconds = _wall_mapping[0].wall(seconds)
    moment = datetime.fromtimestamp(seconds, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
