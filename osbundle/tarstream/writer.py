"""The streaming archiver: entries in, gzip-compressed tar bytes out, digests back.

Each source file is read once, straight into the current 1 MiB block of the tar stream; its
sha256 and xxh3-128 are computed on the very bytes just read. Full blocks go to the
block-parallel compressor (`deflate.GzipBlockWriter`), which hashes the tar stream and the gzip
output as it writes them. Memory is bounded by a fixed set of block buffers, whatever the input:
the writer keeps no per-member state either. Duplicate names are refused by order (payload
members arrive sorted by the UTF-8 bytes of their names, so a repeated name is the previous
one), except for the trailer names `<top>/metadata.json` and `<top>/SHA256SUMS`, which come
after the payload and are checked against the trailers already written (`_Names`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import xxhash

from osbundle.errors import BuildError, Cancelled
from osbundle.model import TRAILERS, ByteSink, Compression, MemberDigest, SourceId
from osbundle.tarstream.deflate import BLOCK_SIZE, GzipBlockWriter, spec_for
from osbundle.tarstream.digest import digest_bytes, read_probe
from osbundle.tarstream.header import BLOCK, RECORD, HeaderEncoder, pad_length
from osbundle.tarstream.sourcefile import (
    StrPath,
    check_unchanged,
    grew,
    open_source,
    read_error,
    read_exactly,
    read_some,
)

PROGRESS_STEP = 4 << 20
_ZEROS = bytes(RECORD)


@dataclass(frozen=True)
class ArchiveResult:
    members: int  # every member written, the trailers included
    tar_size: int
    tar_sha256: str
    size: int
    sha256: str
    compressor: str  # implementation, version and settings the compressed bytes depend on


class BundleWriter:
    """Writes one bundle archive to `out`; see docs/bundle-format.md for the exact bytes.

    `progress` gets the member bytes streamed so far, at most every ~4 MiB inside members (the
    caller reports each member it gets back); `should_stop` is polled per member and per chunk
    read (True raises Cancelled).
    After any error the writer is unusable: call `abort()` (the context manager does).
    """

    def __init__(
        self,
        out: ByteSink,
        *,
        mtime: int,
        compression: Compression = "default",
        threads: int = 0,
        progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        if threads < 0:
            raise BuildError(f"threads must be >= 0 (0: one per CPU), not {threads}")
        self._spec = spec_for(compression)
        self._headers = HeaderEncoder(mtime)
        self._progress = progress
        self._should_stop = should_stop
        self._gz = GzipBlockWriter(out, self._spec, threads or os.cpu_count() or 1)
        self._buf = self._gz.acquire()
        self._pos = 0  # bytes of the tar stream in the current block
        self._blocks = 0  # full blocks submitted before it
        self._names = _Names()
        self._count = 0
        self._payload = 0
        self._reported = 0
        self._state: Literal["open", "closed", "failed"] = "open"

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state != "closed":
            self.abort()

    def add_file(self, name: str, source: StrPath, origin: SourceId, *, mode: int) -> MemberDigest:
        """Stream the file collected as `origin` (named `source` in messages) as member `name`;
        it must still be that file, unchanged (checked before and after reading it, and by
        reading exactly to its end)."""
        size = origin.size
        header = self._begin_member(name, size, mode)
        fd = open_source(source, origin)
        try:
            if size > BLOCK_SIZE:
                advise_sequential(fd, source)
            self._put(header)
            small = self._read_in_block(fd, source, size)
            if small is not None:
                sha256, xxh = small
            else:
                sha256, xxh, probed = self._stream_fd(fd, source, size)
                if not probed and read_probe(fd, source):
                    raise grew(source, size)
            check_unchanged(fd, source, origin)
            self._put(_ZEROS[: pad_length(size)])
        except BaseException:
            self._state = "failed"  # part of the member is out: the tar stream is broken
            raise
        finally:
            os.close(fd)
        return self._end_member(MemberDigest(name, size, sha256, xxh))

    def add_prepared(self, tar: memoryview, digests: Sequence[MemberDigest]) -> None:
        """Members encoded elsewhere (readers.py): their exact tar bytes, header to padding,
        and the digests of their data, computed where it was read."""
        self._check_open()
        self._poll_stop()
        names = [d.name for d in digests]
        self._names.check(names, record=False)
        try:
            self._put(tar)
        except BaseException:
            self._state = "failed"
            raise
        self._names.check(names, record=True)
        self._count += len(digests)
        self._payload += sum(d.size for d in digests)
        if self._payload - self._reported >= PROGRESS_STEP:
            self._report()

    def add_bytes(self, name: str, data: bytes, *, mode: int) -> MemberDigest:
        """Store generated bytes (rendered files, metadata.json, SHA256SUMS) as member `name`."""
        header = self._begin_member(name, len(data), mode)
        try:
            self._put(header)
            self._put(data)
            self._put(_ZEROS[: pad_length(len(data))])
        except BaseException:
            self._state = "failed"
            raise
        self._payload += len(data)
        return self._end_member(MemberDigest(name, len(data), *digest_bytes(data)))

    def add_stream(
        self, name: str, size: int, chunks: Iterable[bytes | memoryview], *, mode: int
    ) -> MemberDigest:
        """Store `size` bytes that arrive as `chunks` (a trailer spilled to a temporary file)
        as member `name`, hashing them as they are copied. Chunks that do not add up to
        exactly `size` raise BuildError; the header is out by then, so the writer is unusable."""
        header = self._begin_member(name, size, mode)
        sha256 = hashlib.sha256()
        xxh = xxhash.xxh3_128()
        done = 0
        try:
            self._put(header)
            for chunk in chunks:
                done += len(chunk)
                if done > size:
                    raise BuildError(f"member {name!r}: more than the {size:,} bytes announced")
                self._poll_stop()
                sha256.update(chunk)
                xxh.update(chunk)
                self._put(chunk)
            if done != size:
                raise BuildError(f"member {name!r}: {done:,} of the {size:,} bytes announced")
            self._put(_ZEROS[: pad_length(size)])
        except BaseException:
            self._state = "failed"
            raise
        self._payload += size
        return self._end_member(MemberDigest(name, size, sha256.hexdigest(), xxh.hexdigest()))

    def close(self) -> ArchiveResult:
        """End-of-archive blocks, zero padding to 10240 bytes, final deflate block, gzip trailer."""
        self._check_open()
        try:
            self._put(_ZEROS[: 2 * BLOCK])
            self._put(_ZEROS[: -(self._blocks * BLOCK_SIZE + self._pos) % RECORD])
            stream = self._gz.finish(self._buf, self._pos)
        except BaseException:
            self._state = "failed"
            raise
        self._state = "closed"
        return ArchiveResult(
            members=self._count,
            tar_size=stream.tar_size,
            tar_sha256=stream.tar_sha256,
            size=stream.size,
            sha256=stream.sha256,
            compressor=self._spec.describe(),
        )

    def abort(self) -> None:
        """Stop the worker threads promptly and write nothing more (idempotent)."""
        if self._state == "closed":
            return
        self._state = "failed"
        self._gz.abort()

    def _check_open(self) -> None:
        if self._state != "open":
            raise BuildError(f"the archive writer is {self._state}; start a new one")

    def _poll_stop(self) -> None:
        if self._should_stop is not None and self._should_stop():
            raise Cancelled("archiving cancelled")

    def _begin_member(self, name: str, size: int, mode: int) -> bytes:
        """Checks that leave the archive untouched when they fail; returns the header bytes."""
        self._check_open()
        self._poll_stop()
        header = self._headers.encode(name, size, mode)
        self._names.check((name,), record=False)
        return header

    def _end_member(self, digest: MemberDigest) -> MemberDigest:
        self._names.check((digest.name,), record=True)
        self._count += 1
        return digest

    def _report(self) -> None:
        if self._progress is not None:
            self._reported = self._payload
            self._progress(self._payload)

    def _space(self) -> memoryview:
        """The free tail of the current block, handing a full block to the compressor first."""
        if self._pos == BLOCK_SIZE:
            self._gz.submit(self._buf, BLOCK_SIZE)
            self._blocks += 1
            self._buf = self._gz.acquire()
            self._pos = 0
        return self._buf[self._pos :]

    def _put(self, data: bytes | memoryview) -> None:
        end = self._pos + len(data)
        if end <= BLOCK_SIZE:
            self._buf[self._pos : end] = data
            self._pos = end
            return
        view = memoryview(data)
        while view:
            space = self._space()
            n = min(len(space), len(view))
            space[:n] = view[:n]
            self._pos += n
            view = view[n:]

    def _read_in_block(self, fd: int, source: StrPath, size: int) -> tuple[str, str] | None:
        """The small-file path of `_stream_fd`: when the file and a probe byte fit in the
        current block, read it there and take each digest in one call (most members of a
        driver tree). None when it does not fit."""
        start = self._pos
        if start + size >= BLOCK_SIZE:
            return None
        self._poll_stop()  # polled before every read, as on the general path
        read_exactly(fd, source, self._buf[start : start + size + 1], size)
        chunk = self._buf[start : start + size]
        self._pos += size
        self._payload += size
        if self._payload - self._reported >= PROGRESS_STEP:
            self._report()
        return digest_bytes(chunk)

    def _stream_fd(self, fd: int, source: StrPath, size: int) -> tuple[str, str, bool]:
        """Read exactly `size` bytes into the tar stream, hashing each chunk as it lands.

        The third value says whether the last read also probed for a byte past the end
        (`sourcefile.read_some`), which spares a separate probe read.
        """
        sha256 = hashlib.sha256()
        xxh = xxhash.xxh3_128()
        remaining = size
        while True:
            self._poll_stop()
            view = self._space()
            probed = len(view) > remaining
            n = read_some(fd, source, view, remaining, size)
            chunk = view[:n]
            sha256.update(chunk)
            xxh.update(chunk)
            self._pos += n
            remaining -= n
            self._payload += n
            if self._payload - self._reported >= PROGRESS_STEP:
                self._report()
            if not remaining:
                return sha256.hexdigest(), xxh.hexdigest(), probed


def advise_sequential(fd: int, source: StrPath) -> None:
    """Read-ahead for a large source; where the call is missing (macOS) the kernel's default."""
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError as exc:
            raise read_error(source, exc) from exc


class _Names:
    """What the writer remembers of the names written, to refuse a repeated one: the last
    payload name, and the trailer names written (the two of a bundle).

    A payload member must sort strictly after the one before it (by UTF-8 bytes, which for
    the valid names the header encoder accepts is the order of their code points: Python's
    str order). A name `<top>/metadata.json` or `<top>/SHA256SUMS` is a trailer name: it comes
    after payload names that sort after it, so it is exempt from the order and checked against
    the trailers written instead. A build never has a payload member of that name: every
    payload path is `<kind directory>/...` (profile/sources.py, resolve_spec's prefix), at
    least two components below the top.
    """

    __slots__ = ("last", "trailers")

    def __init__(self) -> None:
        self.last: str | None = None
        self.trailers: set[str] = set()

    def check(self, names: Iterable[str], *, record: bool) -> None:
        """BuildError for the first of `names` (written next, in order) that is refused;
        with `record`, they are remembered as written (only if none is refused)."""
        last, new = self.last, set[str]()
        for name in names:
            if is_trailer_name(name):
                if name in self.trailers or name in new:
                    raise BuildError(f"duplicate archive member {name!r}")
                new.add(name)
            elif last is not None and name <= last:
                if name == last:
                    raise BuildError(f"duplicate archive member {name!r}")
                raise BuildError(
                    f"archive member {name!r} is out of order: it sorts before {last!r}, and "
                    "members must come sorted by the UTF-8 bytes of their names"
                )
            else:
                last = name
        if record:
            self.last = last
            self.trailers |= new


def is_trailer_name(name: str) -> bool:
    """`<top>/metadata.json` or `<top>/SHA256SUMS`: a trailer's name under any top directory."""
    top, slash, leaf = name.partition("/")
    return bool(top and slash) and leaf in TRAILERS
