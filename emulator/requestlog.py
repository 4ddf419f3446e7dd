"""A bounded log of the API requests the emulator served, for tests and benchmarks to count calls."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One API request. `status` is None when the connection was dropped on purpose (a fault)."""

    time: float
    api: str
    method: str
    http_method: str
    path: str
    query: str
    status: int | None
    duration_ms: float
    #: where a credential came from: "bearer-header", "api-key-header", "api-key-query" (never its value)
    credentials: tuple[str, ...] = ()
    # Whom the bearer token belongs to (emulator.iam), '' when unknown or an API key.
    principal: str = ""
    # The name of the resource a create call made ('' for other calls), so a log shows what was made in order.
    created: str = ""
    # The caller's User-Agent header, which Cloud Audit Logs show as callerSuppliedUserAgent.
    user_agent: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["httpMethod"] = data.pop("http_method")
        data["durationMs"] = round(data.pop("duration_ms"), 3)
        data["credentials"] = list(self.credentials)
        data["userAgent"] = data.pop("user_agent")
        return data


class RequestLog:
    """The newest `limit` records, plus per-method counts that are never trimmed."""

    def __init__(self, limit: int = 100_000) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=limit)
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._counts[record.method] += 1

    def records(self, method: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [r for r in self._records if method is None or r.method == method]

    def count(self, method: str | None = None) -> int:
        """Requests served for `method` (all methods when None) since the last `clear`."""
        with self._lock:
            return sum(self._counts.values()) if method is None else self._counts[method]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._counts.clear()
