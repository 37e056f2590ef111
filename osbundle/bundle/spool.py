"""What a scan keeps of a bundle, on disk rather than in memory: records, trailers, sorted runs.

A 1,000,000-member bundle has 1,000,000 `MemberRecord`s and a metadata.json of some 290 MB;
held as objects they would cost gigabytes. `RecordSpool` writes the records to an anonymous
temporary file in marshal'd batches and reads them back batch by batch, as often as a check
needs; `SpilledBytes` keeps a trailer the same way. `external_sort` and `merge_join` are the
two ways the checks relate records to each other without a dict of every path.
"""

from __future__ import annotations

import heapq
import marshal
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from osbundle.bundle.tarread import TarEntry
from osbundle.errors import InputError

BATCH = 4096  # records marshal'd together: small enough to hold, large enough to be quick
RUN = 65536  # items sorted in memory at a time by external_sort
CHUNK = 1 << 20

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)  # one per member, as TarEntry
class MemberRecord:
    """One archive member as read: `path` is relative to the top directory."""

    entry: TarEntry
    path: str
    sha256: str | None  # None when not hashed (inspect, or fast mode for payload)
    xxh3_128: str | None


@contextmanager
def _temporary_io() -> Iterator[None]:
    """A failure of the temporary files (a full or unwritable TMPDIR) as an InputError that
    names them, never taken for a fault of the bundle being read."""
    try:
        yield
    except OSError as exc:
        where = tempfile.gettempdir()
        raise InputError(f"cannot use a temporary file in {where}: {exc.strerror or exc}") from exc


def _temporary(owner: object = None) -> IO[bytes]:
    """A new anonymous temporary file (unlinked at once: no name to plant), closed when
    `owner` is collected if no one closed it before."""
    with _temporary_io():
        file = tempfile.TemporaryFile(prefix="osbundle-read-")  # noqa: SIM115 -- outlives this
    if owner is not None:
        weakref.finalize(owner, file.close)
    return file


def _write_batches(out: IO[bytes], items: Iterable[Any]) -> None:
    with _temporary_io():
        _write_all(out, items)


def _write_all(out: IO[bytes], items: Iterable[Any]) -> None:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            marshal.dump(batch, out)
            batch = []
    if batch:
        marshal.dump(batch, out)


def _read_batches(source: IO[bytes], start: int, stop: int) -> Iterator[list[Any]]:
    position = start
    while position < stop:
        with _temporary_io():
            source.seek(position)
            batch = marshal.load(source)  # noqa: S302 -- our own unlinked file, written above
            position = source.tell()
        yield batch


class RecordSpool:
    """Every member's record, in archive order, in a temporary file; iterable many times."""

    def __init__(self, top: str = "") -> None:
        self.top = top
        self._file = _temporary(self)
        self._batch: list[tuple[Any, ...]] = []
        self._count = 0

    def append(self, entry: TarEntry, path: str, sha256: str | None, xxh3: str | None) -> None:
        self._batch.append((path, entry.size, entry.mode, entry.mtime, entry.index, entry.offset,
                            sha256, xxh3))  # fmt: skip
        self._count += 1
        if len(self._batch) == BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            with _temporary_io():
                self._file.seek(0, 2)
                marshal.dump(self._batch, self._file)
            self._batch = []

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[MemberRecord]:
        self._flush()
        with _temporary_io():
            end = self._file.seek(0, 2)
        prefix = self.top + "/"
        for batch in _read_batches(self._file, 0, end):
            for path, size, mode, mtime, index, offset, sha256, xxh3 in batch:
                entry = TarEntry(prefix + path, size, mode, mtime, index, offset)
                yield MemberRecord(entry, path, sha256, xxh3)

    def close(self) -> None:
        self._file.close()


class SpilledBytes:
    """One trailer's bytes in a temporary file: read back in chunks, or whole when asked."""

    def __init__(self) -> None:
        self._file = _temporary(self)
        self.size = 0

    @classmethod
    def of(cls, data: bytes) -> SpilledBytes:
        spilled = cls()
        spilled.write(data)
        return spilled

    def write(self, data: bytes) -> None:
        with _temporary_io():
            self._file.seek(0, 2)
            self._file.write(data)
        self.size += len(data)

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        position = 0
        while position < self.size:
            with _temporary_io():
                self._file.seek(position)
                chunk = self._file.read(min(size, self.size - position))
            if not chunk:
                return
            position += len(chunk)
            yield chunk

    def read(self) -> bytes:
        """Every byte: what the checks of a malformed trailer need (it is within its limit)."""
        with _temporary_io():
            self._file.seek(0)
            return self._file.read(self.size)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SpilledBytes):
            return self.size == other.size and all(
                a == b for a, b in zip(self.chunks(), other.chunks(), strict=True)
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def close(self) -> None:
        self._file.close()


def external_sort(items: Iterable[Row]) -> Iterator[Row]:
    """`sorted(items)` with RUN items in memory at a time: runs of sorted items go to a
    temporary file, then are merged a batch of each at a time. Items are tuples marshal can
    write (of str, int, bytes...)."""
    with _temporary() as spill:
        runs: list[tuple[int, int]] = []
        run: list[Row] = []
        for item in items:
            run.append(item)
            if len(run) == RUN:
                runs.append(_spill_run(spill, run))
                run = []
        if not runs:
            yield from sorted(run)
            return
        if run:
            runs.append(_spill_run(spill, run))
        streams = [_run_items(spill, start, stop) for start, stop in runs]
        yield from heapq.merge(*streams)


def _spill_run(spill: IO[bytes], run: list[Row]) -> tuple[int, int]:
    run.sort()
    with _temporary_io():
        start = spill.seek(0, 2)
    _write_batches(spill, run)
    return start, spill.tell()


def _run_items(spill: IO[bytes], start: int, stop: int) -> Iterator[Any]:
    for batch in _read_batches(spill, start, stop):
        yield from batch


class Unordered(Exception):
    """A stream given to merge_join is not strictly increasing."""


def merge_join(*streams: Iterator[tuple[Any, Any]]) -> Iterator[tuple[Any, list[Any]]]:
    """Streams of (key, value), each strictly increasing by key, joined: for every key in any
    of them, its value in each (None where absent). Raises Unordered at the first repeat or
    step back in any stream."""
    end = object()
    heads: list[Any] = [next(s, end) for s in streams]
    while True:
        present = [h[0] for h in heads if h is not end]
        if not present:
            return
        key = min(present)
        values: list[Any] = []
        for number, head in enumerate(heads):
            if head is end or head[0] != key:
                values.append(None)
                continue
            values.append(head[1])
            following: Any = next(streams[number], end)
            if following is not end and not following[0] > key:
                raise Unordered(key)
            heads[number] = following
        yield key, values
