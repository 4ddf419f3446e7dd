"""When and how long to wait before repeating a failed call.

The policy is data, not a decorator, so the transport can apply it to some calls (reads, cancel, idempotent
writes) and not to others (`tuningJobs.create`, which has no client-chosen id and could create a second paid
job), and so tests can shrink every delay to milliseconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from controller.google.errors import GoogleAPIError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and in total time.

    `max_attempts` counts every HTTP attempt (1 = no retry). `total_timeout` bounds the time from the first
    attempt until the decision to make another one: no retry starts after it, and none is planned whose wait
    would cross it. `max_retry_after` caps how long a server's `Retry-After`/`RetryInfo` hint may make us
    wait.
    """

    max_attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.5
    total_timeout: float = 120.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("initial_delay and max_delay must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    def backoff(self, retry_number: int, rng: random.Random | None = None) -> float:
        """Delay before retry number `retry_number` (1 for the first retry), jitter included.

        Jitter takes away up to `jitter` of the delay so that many workers retrying together spread out.
        """
        base = min(self.max_delay, self.initial_delay * self.multiplier ** max(0, retry_number - 1))
        spread = (rng or random).uniform(0.0, self.jitter)
        return base * (1.0 - spread)

    def delay_for(self, error: GoogleAPIError, retry_number: int, rng: random.Random | None = None) -> float:
        """The wait before the next attempt: the backoff, or the server's hint when that is longer."""
        delay = self.backoff(retry_number, rng)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self.max_retry_after))
        return delay


NO_RETRY = RetryPolicy(max_attempts=1)
