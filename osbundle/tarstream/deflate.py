"""Deterministic block-parallel gzip (docs/bundle-format.md, "Compression").

The tar stream is cut into fixed 1 MiB blocks. Each block gets a fresh raw-deflate compressor
primed with the previous block's last 32 KiB and ends with a sync flush (the last block with
Z_FINISH); the block outputs are concatenated and the CRCs combined into one gzip member. A
block's bytes are a function of its own data and its predecessor's tail only, so the output
does not depend on the thread count, on scheduling or on how the caller chunks its writes.
"""

from __future__ import annotations

import hashlib
import queue
import struct
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import isal
import zlib_ng
from isal import isal_zlib
from zlib_ng import zlib_ng as ng_zlib

from osbundle.errors import BuildError
from osbundle.interrupts import signals_held
from osbundle.model import ByteSink, Compression

BLOCK_SIZE = 1 << 20
DICT_SIZE = 32 << 10
# `1f 8b`, deflate, no flags, mtime 0, no extra flags, OS unknown.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
MAX_BUFFERS = 32  # caps memory on many-core machines; more buffers only add latency hiding


@dataclass(frozen=True)
class DeflateSpec:
    """Which deflate implementation and settings produce the compressed bytes."""

    library: Literal["isal", "zlib-ng"]
    level: int
    mem_level: int

    def describe(self) -> str:
        """The `compressor` string of the build result: everything the bytes depend on."""
        if self.library == "isal":
            lib = f"isal {isal.__version__} (ISA-L {isal.ISAL_VERSION})"
        else:
            lib = f"zlib-ng {zlib_ng.__version__} (zlib-ng {ng_zlib.ZLIBNG_VERSION})"
        return f"{lib} level {self.level}, memLevel {self.mem_level}, 1 MiB blocks"


# Chosen from measurements on the 1 GiB benchmark corpus (bench/README.md): "default" is the
# fastest setting within 6 % of `pigz -6`'s size; "best" the fastest zlib-ng setting within 1 %
# of `gzip -6`'s with the bundle's own checksum members included (level 5 at memLevel 8 misses
# by 0.02 %). A smaller memLevel means smaller deflate blocks, which adapt their Huffman codes
# better to this mix of text and binaries: level 4 at memLevel 7 is 1.009x, level 6 at 8 is
# 1.009x and 2 % slower.
SPECS: dict[str, DeflateSpec] = {
    "fast": DeflateSpec("isal", 1, 8),
    "default": DeflateSpec("isal", 2, 2),
    "best": DeflateSpec("zlib-ng", 4, 7),
}


def spec_for(compression: Compression) -> DeflateSpec:
    spec = SPECS.get(compression)
    if spec is None:
        raise BuildError(f"unknown compression {compression!r}: use fast, default or best")
    return spec


def compress_block(spec: DeflateSpec, data: memoryview, zdict: bytes, last: bool) -> bytes:
    """One block's raw deflate bytes, ending byte-aligned (sync flush) unless `last`."""
    return b"".join(deflate_block(spec, data, zdict, last))


def deflate_block(
    spec: DeflateSpec, data: memoryview, zdict: bytes, last: bool
) -> tuple[bytes, bytes]:
    """`compress_block`'s bytes in the two pieces the compressor returns them in: joining them
    would copy the block's output once more (~0.55 MB a block on the benchmark corpus)."""
    module: Any = isal_zlib if spec.library == "isal" else ng_zlib
    options = {"zdict": zdict} if zdict else {}
    comp = module.compressobj(spec.level, module.DEFLATED, -15, spec.mem_level, **options)
    head = comp.compress(data)
    return head, comp.flush(module.Z_FINISH if last else module.Z_SYNC_FLUSH)


def _compress_task(spec: DeflateSpec, data: memoryview, zdict: bytes, last: bool) -> Compressed:
    return Compressed(deflate_block(spec, data, zdict, last), isal_zlib.crc32(data))


@dataclass(frozen=True)
class Compressed:
    pieces: tuple[bytes, bytes]  # written one after the other
    crc: int


@dataclass(frozen=True)
class StreamDigest:
    """Sizes and sha256 of the uncompressed tar stream and of the gzip file written."""

    tar_size: int
    tar_sha256: str
    size: int
    sha256: str


@dataclass(frozen=True)
class _Pending:
    buf: memoryview
    length: int
    result: Future[Compressed]


class GzipBlockWriter:
    """Ordered pipeline: caller fills raw blocks -> compress pool -> one writer thread -> `out`.

    Memory is bounded by the fixed set of block buffers: `acquire()` blocks until the writer
    has written a block and returned its buffer (back-pressure). The writer thread hashes the
    raw block (tar-stream sha256) while a worker compresses it, then hashes and writes the
    compressed bytes in block order.
    """

    def __init__(self, out: ByteSink, spec: DeflateSpec, threads: int) -> None:
        self._out = out
        self._spec = spec
        nbuf = min(2 * threads + 2, MAX_BUFFERS)
        self._free: queue.Queue[memoryview] = queue.Queue()
        for _ in range(nbuf):
            self._free.put(memoryview(bytearray(BLOCK_SIZE)))
        self._pending: queue.Queue[_Pending | None] = queue.Queue()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="osbundle-deflate")
        self._zdict = b""
        self._tar_sha = hashlib.sha256()
        self._out_sha = hashlib.sha256()
        self._crc = 0
        self._tar_size = 0
        self._size = 0
        self._error: BaseException | None = None
        self._stopping = False
        self._done = False
        self._write(GZIP_HEADER)
        self._thread = threading.Thread(target=self._run, name="osbundle-writer", daemon=True)
        self._thread.start()

    def acquire(self) -> memoryview:
        """A free BLOCK_SIZE buffer to fill (stale contents); waits while all are in flight."""
        while True:
            self._raise_if_failed()
            try:
                return self._free.get(timeout=0.2)
            except queue.Empty:
                continue

    def submit(self, buf: memoryview, length: int, *, last: bool = False) -> None:
        """Queue `buf[:length]` as the next block; the buffer belongs to the pipeline now."""
        self._raise_if_failed()
        if length != BLOCK_SIZE and not last:
            raise ValueError("only the last block may be shorter than BLOCK_SIZE")
        data = buf[:length]
        with signals_held():  # the pool may start a thread here
            future = self._pool.submit(_compress_task, self._spec, data, self._zdict, last)
        self._zdict = bytes(data[-DICT_SIZE:]) if not last else b""
        self._pending.put(_Pending(buf, length, future))

    def finish(self, buf: memoryview, length: int) -> StreamDigest:
        """Submit the final block, wait for everything, write the gzip trailer."""
        self.submit(buf, length, last=True)
        self._pending.put(None)
        self._thread.join()
        self._pool.shutdown(wait=True)
        self._done = True
        self._raise_if_failed()
        self._write(struct.pack("<II", self._crc, self._tar_size & 0xFFFFFFFF))
        return StreamDigest(
            self._tar_size, self._tar_sha.hexdigest(), self._size, self._out_sha.hexdigest()
        )

    def abort(self) -> None:
        """Stop promptly: cancel queued blocks, let running ones end, write nothing more."""
        if self._done:
            return
        self._done = True
        self._stopping = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pending.put(None)
        self._thread.join()
        self._pool.shutdown(wait=True)

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._out_sha.update(data)
        self._size += len(data)

    def _run(self) -> None:
        while (item := self._pending.get()) is not None:
            try:
                if not self._stopping and self._error is None:
                    self._consume(item)
            except BaseException as exc:  # surfaces in the caller via _raise_if_failed
                self._error = _as_build_error(exc)
            finally:
                _wait_quietly(item.result)
                self._free.put(item.buf)

    def _consume(self, item: _Pending) -> None:
        raw = item.buf[: item.length]
        self._tar_sha.update(raw)
        block = item.result.result()
        self._crc = isal_zlib.crc32_combine(self._crc, block.crc, item.length)
        self._tar_size += item.length
        for piece in block.pieces:
            if piece:
                self._write(piece)


def _wait_quietly(future: Future[Compressed]) -> None:
    """Before a buffer is reused, no worker may still be reading it."""
    if not future.cancel():
        future.exception()


def _as_build_error(exc: BaseException) -> BaseException:
    if isinstance(exc, OSError):
        error = BuildError(f"writing the archive failed: {exc.strerror or exc}")
        error.__cause__ = exc
        return error
    return exc
