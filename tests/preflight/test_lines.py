"""Splitting a stream into lines with bounded memory, whatever the chunk boundaries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.preflight.lines import TooLong, iter_lines, prefetched


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_lines_come_out_the_same_for_any_chunk_size(size: int) -> None:
    data = b"a\nbb\n\nccc\r\ndddd"
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert list(iter_lines(chunks, 100)) == [b"a", b"bb", b"", b"ccc\r", b"dddd"]


@pytest.mark.parametrize("size", [1, 3, 4, 1000])
def test_an_over_long_line_is_reported_with_its_length_and_skipped(size: int) -> None:
    data = b"ok\n" + b"x" * 25 + b"\nafter\n" + b"y" * 12
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    assert list(iter_lines(chunks, 10)) == [b"ok", TooLong(25), b"after", TooLong(12)]


def test_a_final_newline_makes_no_empty_last_line() -> None:
    assert list(iter_lines([b"a\n", b"b\n"], 10)) == [b"a", b"b"]
    assert list(iter_lines([], 10)) == []


def test_prefetching_keeps_order_and_hands_a_download_error_to_the_reader() -> None:
    assert list(prefetched(iter([b"a", b"b", b"c"]), depth=1)) == [b"a", b"b", b"c"]

    def failing() -> Iterator[bytes]:
        yield b"x"
        raise OSError("connection reset")

    got = prefetched(failing())
    assert next(got) == b"x"
    with pytest.raises(OSError, match="connection reset"):
        next(got)


def test_a_reader_that_stops_early_closes_the_download() -> None:
    closed: list[bool] = []

    def endless() -> Iterator[bytes]:
        try:
            while True:
                yield b"x"
        finally:
            closed.append(True)

    got = prefetched(endless(), depth=2)
    assert next(got) == b"x"
    got.close()
    assert closed == [True]
