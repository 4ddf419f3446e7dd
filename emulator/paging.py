"""Opaque page tokens, keyed on a resource's creation sequence so pages stay stable while items are added."""

from __future__ import annotations

import base64

from emulator.apierror import invalid_argument

_PREFIX = "emu1:"


def encode_token(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{sequence}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith(_PREFIX):
            raise ValueError(token)
        return int(text[len(_PREFIX) :])
    except (ValueError, UnicodeDecodeError):
        raise invalid_argument("Invalid page token.", "page_token") from None


def page_size(raw: str | None, default: int, maximum: int) -> int:
    """`pageSize` as Google treats it: absent or 0 means the default, above the maximum is capped."""
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError:
        raise invalid_argument(f"Invalid value for page_size: {raw!r}.", "page_size") from None
    if size < 0:
        raise invalid_argument("page_size must not be negative.", "page_size")
    return min(size or default, maximum)
