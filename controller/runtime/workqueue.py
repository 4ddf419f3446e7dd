"""A work queue with client-go's guarantees, for keys that name objects to reconcile.

- De-duplication: a key added while it waits is queued once. Reconciles are level-triggered, so ten events
  for one object need one reconcile, not ten.
- Per-key serialisation: a key handed to a worker is not handed to another until `done(key)`. If it is
  added again meanwhile it is marked dirty and queued again at `done`, so the change is not lost.
- Rate-limited retries: `add_rate_limited(key)` waits `base * 2**failures` (capped) before the key comes
  back; `forget(key)` resets the count after a success.
- Delayed adds: `add_after(key, seconds)` for polling. When a key is already waiting, the earlier time wins.
- `shutdown()` wakes every waiting worker; `get()` then returns None and new adds are ignored.

Delayed keys sit in a heap and are moved to the queue by whichever thread next looks at the queue; a waiting
worker sleeps on a condition until the earliest delayed key is due, so nothing polls.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T", bound=Hashable)


class QueueObserver(Protocol):
    """Hooks for metrics; every method is called with the queue's lock held, so it must be quick."""

    def added(self) -> None: ...

    def retried(self) -> None: ...

    def started(self, waited_seconds: float) -> None: ...

    def finished(self, worked_seconds: float) -> None: ...


class _NoObserver:
    def added(self) -> None:
        pass

    def retried(self) -> None:
        pass

    def started(self, waited_seconds: float) -> None:
        pass

    def finished(self, worked_seconds: float) -> None:
        pass


class ExponentialBackoff(Generic[T]):
    """Per-key delay `base * 2**failures`, capped at `cap`: client-go's ItemExponentialFailureRateLimiter."""

    def __init__(self, base_seconds: float = 0.005, cap_seconds: float = 300.0) -> None:
        if base_seconds <= 0 or cap_seconds < base_seconds:
            raise ValueError(
                f"backoff: base_seconds ({base_seconds}) must be > 0 and <= cap_seconds ({cap_seconds})"
            )
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self._failures: dict[T, int] = {}
        self._lock = threading.Lock()

    def when(self, item: T) -> float:
        """Record one more failure of `item` and return how long to wait before retrying it."""
        with self._lock:
            failures = self._failures.get(item, 0)
            self._failures[item] = failures + 1
        # 2**failures overflows float for huge counts; past the cap the exact power does not matter.
        if failures > 64:
            return self.cap_seconds
        return float(min(self.base_seconds * (2**failures), self.cap_seconds))

    def failures(self, item: T) -> int:
        with self._lock:
            return self._failures.get(item, 0)

    def forget(self, item: T) -> None:
        with self._lock:
            self._failures.pop(item, None)


class WorkQueue(Generic[T]):
    def __init__(
        self,
        name: str = "",
        backoff: ExponentialBackoff[T] | None = None,
        observer: QueueObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.backoff: ExponentialBackoff[T] = backoff or ExponentialBackoff()
        self._observer: QueueObserver = observer or _NoObserver()
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()  # queued, or added again while processing
        self._processing: dict[T, float] = {}  # key -> when a worker took it
        self._queued_at: dict[T, float] = {}
        self._waiting: list[tuple[float, int, T]] = []  # heap of (ready_at, seq, key); stale entries skipped
        self._ready_at: dict[T, float] = {}  # the live entry per waiting key
        self._seq = itertools.count()
        self._shutting_down = False

    # -- adding --------------------------------------------------------------------------------------------

    def add(self, item: T) -> None:
        with self._cond:
            self._add_locked(item)

    def _add_locked(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._observer.added()
        self._dirty.add(item)
        if item in self._processing:
            return  # queued again by done()
        self._queue.append(item)
        self._queued_at[item] = self._clock()
        self._cond.notify()

    def add_after(self, item: T, delay_seconds: float) -> None:
        """Add `item` once `delay_seconds` have passed; an earlier pending time for it is kept."""
        with self._cond:
            if self._shutting_down:
                return
            if delay_seconds <= 0:
                self._add_locked(item)
                return
            ready_at = self._clock() + delay_seconds
            current = self._ready_at.get(item)
            if current is not None and current <= ready_at:
                return
            self._ready_at[item] = ready_at
            heapq.heappush(self._waiting, (ready_at, next(self._seq), item))
            # A worker may be sleeping until a later deadline: wake them all to recompute it.
            self._cond.notify_all()

    def add_rate_limited(self, item: T) -> None:
        """Add `item` after its backoff delay, which doubles with every call until `forget(item)`."""
        delay = self.backoff.when(item)
        with self._cond:
            if not self._shutting_down:
                self._observer.retried()
        self.add_after(item, delay)

    def forget(self, item: T) -> None:
        self.backoff.forget(item)

    def num_requeues(self, item: T) -> int:
        return self.backoff.failures(item)

    # -- taking --------------------------------------------------------------------------------------------

    def _promote_due_locked(self) -> float | None:
        """Move due delayed keys into the queue; return seconds until the next one is due, if any."""
        now = self._clock()
        while self._waiting:
            ready_at, _, item = self._waiting[0]
            if self._ready_at.get(item) != ready_at:
                heapq.heappop(self._waiting)  # superseded by an earlier add_after
                continue
            if ready_at > now:
                return ready_at - now
            heapq.heappop(self._waiting)
            del self._ready_at[item]
            self._add_locked(item)
        return None

    def get(self, timeout: float | None = None) -> T | None:
        """Block until a key is ready and return it, marked as processing; None on shutdown or timeout."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                next_due = self._promote_due_locked()
                if self._queue:
                    item = self._queue.popleft()
                    now = self._clock()
                    self._processing[item] = now
                    self._dirty.discard(item)
                    self._observer.started(now - self._queued_at.pop(item, now))
                    return item
                wait = next_due
                if deadline is not None:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def done(self, item: T) -> None:
        """Mark `item` finished; if it was added while processing, queue it again now."""
        with self._cond:
            started = self._processing.pop(item, None)
            if started is not None:
                self._observer.finished(self._clock() - started)
            if item in self._dirty and not self._shutting_down:
                self._queue.append(item)
                self._queued_at[item] = self._clock()
                self._cond.notify()

    # -- state ---------------------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop handing out keys: waiting and future `get` calls return None, adds are ignored."""
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    @property
    def shutting_down(self) -> bool:
        with self._cond:
            return self._shutting_down

    def __len__(self) -> int:
        """Keys ready to be processed (the queue-depth metric); delayed keys count once they are due."""
        with self._cond:
            self._promote_due_locked()
            return len(self._queue)

    def waiting(self) -> int:
        """Keys scheduled by `add_after` or `add_rate_limited` that are not due yet."""
        with self._cond:
            self._promote_due_locked()
            return len(self._ready_at)

    def processing_seconds(self) -> list[float]:
        """How long each key being processed has been held (for the longest-running-processor metric)."""
        with self._cond:
            now = self._clock()
            return [now - started for started in self._processing.values()]
