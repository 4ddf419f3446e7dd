"""Logging setup: one line per record, JSON (for log pipelines) or text (for people), with key/value context.

Context set with `log_context(kind=..., key=..., reconcile_id=...)` is attached to every record logged in
that block, in whatever module logs it, so a reconcile's lines can be found by its id without every call
passing it along. Extra fields go through the standard `extra=` argument:

    log.info("relisted", extra={"resource": "configmaps", "objects": 12})

Fields whose names suggest a credential are replaced by "[redacted]" as a last line of defence; the first
is never passing credentials to a logger at all.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any, Literal, TextIO

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("vertexops_log_context", default={})  # noqa: B039 - never mutated, only replaced

# Attributes every LogRecord has; anything else on a record came from `extra=` or our context filter.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
_SECRET_WORDS = ("token", "password", "secret", "authorization", "api_key", "apikey", "credential")
REDACTED = "[redacted]"


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add key/value fields to every record logged inside the block (nesting adds to the outer ones)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_context.get())


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(_context.get())
    for name, value in vars(record).items():
        if name not in _STANDARD_ATTRS and not name.startswith("_"):
            fields[name] = value
    return {name: REDACTED if _looks_secret(name) else value for name, value in fields.items()}


def _looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _timestamp(record: logging.LogRecord) -> str:
    return dt.datetime.fromtimestamp(record.created, tz=dt.UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, then context and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in _fields(record).items():
            document.setdefault(name, value)
        if record.exc_info:
            document["error"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...`, values quoted only when they hold spaces."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, f"{record.name}:", record.getMessage()]
        for name, value in _fields(record).items():
            text = str(value)
            parts.append(f"{name}={json.dumps(text) if (' ' in text or not text) else text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(
    log_format: Literal["json", "text"] = "json",
    level: str | int = "INFO",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every logger's records to one stream handler in the chosen format; return that handler.

    Replaces handlers a previous call installed, so calling it twice (tests, `vertexops dev`) does not
    print every line twice. The `kubernetes` and `urllib3` loggers are held at WARNING: at DEBUG they print
    request headers, which carry bearer tokens.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.set_name("vertexops")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "vertexops":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("kubernetes", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
