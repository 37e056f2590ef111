from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from osbundle.errors import BuildError
from osbundle.tarstream.sourcefile import read_exactly


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """A pipe: a read returns what was written so far, like a short read of a file."""
    r, w = os.pipe()
    yield r, w
    os.close(r)


def feed(w: int, *chunks: bytes, pause: float = 0.0) -> None:
    for chunk in chunks:
        os.write(w, chunk)
        time.sleep(pause)
    os.close(w)


def test_short_reads_are_read_on(pipe: tuple[int, int]) -> None:
    r, w = pipe
    writer = threading.Thread(target=feed, args=(w, b"abc", b"def"), kwargs={"pause": 0.05})
    writer.start()
    buf = bytearray(7)
    read_exactly(r, "p", memoryview(buf), 6)  # the first read gets 3 of 6, the second the rest
    writer.join()
    assert bytes(buf[:6]) == b"abcdef"


@pytest.mark.parametrize(("data", "size"), [(b"", 0), (b"x", 1), (b"0123456789", 10)])
def test_exact_sizes(pipe: tuple[int, int], data: bytes, size: int) -> None:
    r, w = pipe
    feed(w, data)
    buf = bytearray(size + 1)
    read_exactly(r, "p", memoryview(buf), size)
    assert bytes(buf[:size]) == data


@pytest.mark.parametrize(("data", "size"), [(b"x", 0), (b"abcdefg", 6)])
def test_one_byte_more_is_growth(pipe: tuple[int, int], data: bytes, size: int) -> None:
    r, w = pipe
    feed(w, data)
    with pytest.raises(BuildError, match=rf"p: file grew while it was read \(more than {size} "):
        read_exactly(r, "p", memoryview(bytearray(size + 1)), size)


def test_an_early_end_is_shrinking(pipe: tuple[int, int]) -> None:
    r, w = pipe
    feed(w, b"ab", b"cd")
    with pytest.raises(BuildError, match=r"shrank .*end of file after 4 of 6 bytes"):
        read_exactly(r, "p", memoryview(bytearray(7)), 6)
