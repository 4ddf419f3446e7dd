"""Lines out of a stream of byte chunks, holding at most one line (and one chunk) in memory.

A line longer than `max_line_bytes` is not kept: it is reported as `TooLong` with its length, and its bytes
are skipped up to the next newline, so one enormous line cannot exhaust the operator's memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class TooLong:
    length: int  # bytes seen before the line ended (or the file did)


def iter_lines(chunks: Iterable[bytes], max_line_bytes: int) -> Iterator[bytes | TooLong]:
    """Each line without its `\\n` (a trailing `\\r` is kept for the JSON parser, which ignores it)."""
    pending = bytearray()
    skipped: int | None = None  # bytes of an over-long line seen so far
    for chunk in chunks:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                rest = len(chunk) - start
                if skipped is not None:
                    skipped += rest
                elif len(pending) + rest > max_line_bytes:
                    skipped = len(pending) + rest
                    pending.clear()
                else:
                    pending += memoryview(chunk)[start:]
                break
            if skipped is not None:
                yield TooLong(skipped + end - start)
                skipped = None
            elif pending:
                pending += memoryview(chunk)[start:end]
                line = bytes(pending)
                pending.clear()
                yield line if len(line) <= max_line_bytes else TooLong(len(line))
            else:
                line = chunk[start:end]
                yield line if len(line) <= max_line_bytes else TooLong(len(line))
            start = end + 1
    if skipped is not None:
        yield TooLong(skipped)
    elif pending:
        yield bytes(pending)
