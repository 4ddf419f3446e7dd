"""Lines out of a stream of byte chunks, holding at most one line (and one chunk) in memory.

A line longer than `max_line_bytes` is not kept: it is reported as `TooLong` with its length, and its bytes
are skipped up to the next newline, so one enormous line cannot exhaust the operator's memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from queue import Full, Queue


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


def prefetched(chunks: Iterable[bytes], depth: int = 4) -> Iterator[bytes]:
    """The same chunks, read ahead by a thread (at most `depth` waiting), so the download of the next
    megabytes overlaps the checking of these; memory stays bounded by `depth` chunks."""
    queue: Queue[bytes | BaseException | None] = Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        queue.put(chunk, timeout=0.5)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(None)
        except BaseException as err:  # handed to the consumer, raised there
            queue.put(err)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a generator over an HTTP response closes the response

    reader = threading.Thread(target=read, name="preflight-download", daemon=True)
    reader.start()
    try:
        while True:
            item = queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=5)
