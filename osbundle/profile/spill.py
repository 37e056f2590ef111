"""Lists of per-file records that are not all held in memory: a chunked record file, and an
external sort on top of it.

A large profile matches a million files; one Python object per file, several times over
(matches, resolved files, members), would need gigabytes. Records are encoded as tuples of
plain values (`Codec`) and written in marshal'd chunks of CHUNK records to an unlinked
temporary file; only a chunk at a time is decoded. Reads use pread, never the shared file
offset, so forked reader processes may read the same file at the same time.

Small lists never touch the disk: a Sorter whose items fit in one run sorts them in memory.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import marshal
import os
import tempfile
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")
CHUNK = 512  # records per marshal'd chunk: one decoded chunk is some 100 KiB
# Items of one in-memory run of a Sorter: a resolved file costs ~600 bytes as objects, so a
# run is ~12 MiB, and a million files make 50 runs, merged with one chunk of each in memory.
RUN_ITEMS = 20_000
_BUFFER = 1 << 20


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How an item becomes a marshal-able tuple of plain values, and back."""

    encode: Callable[[T], tuple[Any, ...]]
    decode: Callable[[tuple[Any, ...]], T]


class RecordFile(Generic[T]):
    """Items appended in order, then read back (`__iter__`, `span`) as often as needed.

    The file is a `tempfile.TemporaryFile` in `spill_dir` (the system's temporary directory
    when None): created with O_EXCL and unlinked at once, so no name can be planted or
    left behind.
    """

    def __init__(self, codec: Codec[T], spill_dir: Path | None = None) -> None:
        self._codec = codec
        # Closed by close(); a RecordFile outlives any one block of its owner's code.
        self._file = tempfile.TemporaryFile(dir=spill_dir, buffering=_BUFFER)  # noqa: SIM115
        self._pending: list[tuple[Any, ...]] = []
        self._offsets = array("Q", [0])  # where each chunk starts; the last: the end
        self._firsts = array("Q", [0])  # the index of each chunk's first item; the last: count
        self._count = 0

    def append(self, item: T) -> None:
        self._pending.append(self._codec.encode(item))
        self._count += 1
        if len(self._pending) == CHUNK:
            self._write_chunk()

    def finish(self) -> None:
        """Flush what is buffered so that reads (here or in a process forked now) see every
        item; appending may go on."""
        if self._pending:
            self._write_chunk()
        self._file.flush()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[T]:
        return self.span(0, self._count)

    def span(self, start: int, stop: int) -> Iterator[T]:
        """Items `start` to `stop - 1`, in order."""
        return map(self._codec.decode, self.raw_span(start, stop))

    def raw_span(self, start: int, stop: int) -> Iterator[tuple[Any, ...]]:
        """The records of items `start` to `stop - 1` as the codec encoded them."""
        if self._pending:
            self.finish()
        chunk = bisect.bisect_right(self._firsts, start) - 1
        skip = start - self._firsts[chunk]
        left = min(stop, self._count) - start
        while left > 0:
            records = self._read_chunk(chunk)[skip : skip + left]
            yield from records
            left -= len(records)
            chunk, skip = chunk + 1, 0

    def descriptors(self) -> tuple[int, ...]:
        """What a forked process must keep open to read this file."""
        return (self._file.fileno(),)

    def close(self) -> None:
        self._file.close()

    def _write_chunk(self) -> None:
        data = marshal.dumps(self._pending)
        self._file.write(data)
        self._offsets.append(self._offsets[-1] + len(data))
        self._firsts.append(self._firsts[-1] + len(self._pending))
        self._pending = []

    def _read_chunk(self, chunk: int) -> list[tuple[Any, ...]]:
        start, end = self._offsets[chunk], self._offsets[chunk + 1]
        data = os.pread(self._file.fileno(), end - start, start)
        if len(data) != end - start:
            raise OSError(f"spill file ended early (chunk {chunk})")
        # Our own unlinked file, written by this process or its parent before the fork.
        records: list[tuple[Any, ...]] = marshal.loads(data)  # noqa: S302
        return records


class Sorter(Generic[T]):
    """A stable external sort by `key`: items added in any order, read back sorted, items with
    equal keys in the order they were added.

    Runs of `run_items` are sorted in memory; when there is more than one, each is appended to
    one spill file and the runs are merged as they are read (heapq.merge keeps the earlier run
    first on equal keys). Items that arrive already sorted (the walk lists each directory in
    order) are never sorted nor merged: the spill file is the sorted list. Without a codec,
    everything stays in memory.
    """

    def __init__(
        self,
        key: Callable[[T], str],
        codec: Codec[T] | None,
        spill_dir: Path | None = None,
        run_items: int | None = None,
    ) -> None:
        self._key, self._codec, self._spill_dir = key, codec, spill_dir
        self._run_items = RUN_ITEMS if run_items is None else run_items
        self._run: list[T] = []
        self._file: RecordFile[T] | None = None
        self._runs: list[tuple[int, int]] = []  # (start, stop) of each spilled run in _file
        self._ordered = True  # every item so far came in order
        self._last: str | None = None
        self._count = 0

    def add(self, item: T) -> None:
        if self._ordered:
            k = self._key(item)
            if self._last is not None and k < self._last:
                self._ordered = False
            self._last = k
        self._run.append(item)
        self._count += 1
        if len(self._run) == self._run_items and self._codec is not None:
            self._spill_run()

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[T]:
        """Every item added, sorted (the last run is sorted in place)."""
        if not self._ordered:
            self._run.sort(key=self._key)
        if self._file is None:
            return iter(self._run)
        if self._ordered:
            return itertools.chain(self._file, self._run)
        spans = [self._file.span(start, stop) for start, stop in self._runs]
        return heapq.merge(*spans, iter(self._run), key=self._key)

    def freeze(self) -> RecordFile[T] | HeldRecords[T]:
        """The items sorted, as one list to read by position, which the Sorter hands over: in
        memory when they fit in one run, the spill file itself when they came in order, else
        merged into a new spill file (close the list when done)."""
        if self._file is None:
            items = sorted(self._run, key=self._key)
            self._run = []
            return HeldRecords(items)
        if self._ordered:
            file, self._file = self._file, None
            for item in self._run:
                file.append(item)
            file.finish()
            self._run = []
            return file
        assert self._codec is not None
        merged = RecordFile(self._codec, self._spill_dir)
        try:
            for item in self:
                merged.append(item)
            merged.finish()
        except BaseException:
            merged.close()
            raise
        finally:
            self.close()
        return merged

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._runs, self._run = None, [], []

    def _spill_run(self) -> None:
        assert self._codec is not None
        if self._file is None:
            self._file = RecordFile(self._codec, self._spill_dir)
        if not self._ordered:
            self._run.sort(key=self._key)
        start = len(self._file)
        for item in self._run:
            self._file.append(item)
        self._runs.append((start, len(self._file)))
        self._run = []


@dataclass(frozen=True)
class HeldRecords(Generic[T]):
    """Items held in memory, read as a RecordFile is (a list too short to spill)."""

    items: list[T]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def span(self, start: int, stop: int) -> Iterator[T]:
        return iter(self.items[start:stop])

    def descriptors(self) -> tuple[int, ...]:
        return ()

    def close(self) -> None:
        """Nothing to release."""


def first_of_each(items: Iterator[T], key: Callable[[T], str]) -> Iterator[T]:
    """The first item of each run of equal keys (of a sorted, stable sequence)."""
    previous: str | None = None
    for item in items:
        k = key(item)
        if k != previous:
            previous = k
            yield item
