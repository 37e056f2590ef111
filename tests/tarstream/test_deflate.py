from __future__ import annotations

import gzip
import hashlib
import io
import struct
import threading
import zlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.errors import BuildError
from osbundle.tarstream import deflate
from osbundle.tarstream.deflate import (
    BLOCK_SIZE,
    DICT_SIZE,
    GZIP_HEADER,
    SPECS,
    DeflateSpec,
    GzipBlockWriter,
    StreamDigest,
    compress_block,
    deflate_block,
    spec_for,
)

SMALL_SPEC = SPECS["default"]


def sample(size: int, seed: int = 1) -> bytes:
    """Half text-like, half random: exercises both matches and literals."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        digest = hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        out += digest if counter % 2 else b"HKR, Ndi\\params\\*RSS, ParamDesc, 0, %d\r\n" % counter
        counter += 1
    return bytes(out[:size])


def write_stream(data: bytes, spec: DeflateSpec, threads: int) -> tuple[bytes, StreamDigest]:
    out = io.BytesIO()
    gz = GzipBlockWriter(out, spec, threads)
    view = memoryview(data)
    while len(view) > BLOCK_SIZE:
        buf = gz.acquire()
        buf[:BLOCK_SIZE] = view[:BLOCK_SIZE]
        gz.submit(buf, BLOCK_SIZE)
        view = view[BLOCK_SIZE:]
    buf = gz.acquire()
    buf[: len(view)] = view
    digest = gz.finish(buf, len(view))
    return out.getvalue(), digest


@pytest.mark.parametrize("name", sorted(SPECS))
def test_blocks_chain_into_one_raw_deflate_stream(name: str) -> None:
    spec = SPECS[name]
    data = sample(3 * BLOCK_SIZE + 12345)
    parts, zdict = [], b""
    for start in range(0, len(data), BLOCK_SIZE):
        block = memoryview(data)[start : start + BLOCK_SIZE]
        last = start + BLOCK_SIZE >= len(data)
        parts.append(compress_block(spec, block, zdict, last))
        zdict = bytes(block[-32768:])
    assert all(p.endswith(b"\x00\x00\xff\xff") for p in parts[:-1])
    assert zlib.decompress(b"".join(parts), -15) == data


@pytest.mark.parametrize("name", sorted(SPECS))
def test_writer_writes_each_blocks_pieces_in_order(name: str) -> None:
    spec = SPECS[name]
    data = sample(3 * BLOCK_SIZE + 999, seed=3)
    blob, _ = write_stream(data, spec, 2)
    pieces: list[bytes] = []
    zdict = b""
    for start in range(0, len(data), BLOCK_SIZE):
        block = memoryview(data)[start : start + BLOCK_SIZE]
        last = start + BLOCK_SIZE >= len(data)
        head, tail = deflate_block(spec, block, zdict, last)
        assert head + tail == compress_block(spec, block, zdict, last)
        pieces += [head, tail]
        zdict = bytes(block[-DICT_SIZE:])
    trailer = struct.pack("<II", zlib.crc32(data), len(data))
    assert blob == GZIP_HEADER + b"".join(pieces) + trailer


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SPECS))
def test_same_bytes_for_every_thread_count(name: str) -> None:
    data = sample(5 * BLOCK_SIZE + 777, seed=2)
    outputs = {threads: write_stream(data, SPECS[name], threads)[0] for threads in (1, 2, 8)}
    assert outputs[1] == outputs[2] == outputs[8]
    assert gzip.decompress(outputs[1]) == data


@settings(max_examples=10, deadline=None)
@given(size=st.sampled_from([0, 1, 511, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1]))
def test_stream_digest_matches_bytes(size: int) -> None:
    data = sample(size, seed=size)
    blob, digest = write_stream(data, SMALL_SPEC, 2)
    assert blob.startswith(GZIP_HEADER)
    assert gzip.decompress(blob) == data
    assert digest == StreamDigest(
        len(data), hashlib.sha256(data).hexdigest(), len(blob), hashlib.sha256(blob).hexdigest()
    )
    assert int.from_bytes(blob[-8:-4], "little") == zlib.crc32(data)


def test_spec_lookup_and_description() -> None:
    assert spec_for("default").library == "isal"
    assert "1 MiB blocks" in spec_for("best").describe()
    assert "zlib-ng 1.1.0" in spec_for("best").describe()
    assert spec_for("default").describe().startswith("isal 1.9.1 ")
    with pytest.raises(BuildError, match="unknown compression"):
        spec_for("ultra")  # type: ignore[arg-type]


class FailingOut(io.RawIOBase):
    def __init__(self, fail_after: int) -> None:
        self.written = 0
        self.fail_after = fail_after

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        size = len(data)  # type: ignore[arg-type]
        if self.written + size > self.fail_after:
            raise OSError(28, "No space left on device")
        self.written += size
        return size


def test_write_error_surfaces_in_the_caller_without_hanging() -> None:
    out = FailingOut(fail_after=100)
    gz = GzipBlockWriter(out, SMALL_SPEC, 2)
    block = sample(BLOCK_SIZE)

    def push_blocks() -> None:
        for _ in range(50):
            buf = gz.acquire()
            buf[:] = block
            gz.submit(buf, BLOCK_SIZE)

    with pytest.raises(BuildError, match="No space left"):
        push_blocks()
    gz.abort()
    assert out.written == len(GZIP_HEADER)


def test_abort_cancels_queued_blocks_and_writes_nothing_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running, go, cancelled = threading.Event(), threading.Event(), threading.Event()
    compressed: list[int] = []
    compress = deflate._compress_task

    def held_compress(*args: Any) -> Any:  # the first block holds its worker until `go`
        compressed.append(len(compressed))
        running.set()
        go.wait(timeout=60)
        return compress(*args)

    monkeypatch.setattr(deflate, "_compress_task", held_compress)
    out = io.BytesIO()
    gz = GzipBlockWriter(out, SPECS["best"], 1)
    for _ in range(4):
        buf = gz.acquire()
        buf[:] = sample(BLOCK_SIZE)
        gz.submit(buf, BLOCK_SIZE)
    assert running.wait(timeout=60)
    shutdown = gz._pool.shutdown

    def shutdown_then_tell(*args: Any, **kwargs: Any) -> None:
        shutdown(*args, **kwargs)
        cancelled.set()

    monkeypatch.setattr(gz._pool, "shutdown", shutdown_then_tell)
    aborting = threading.Thread(target=gz.abort)
    aborting.start()
    assert cancelled.wait(timeout=60)  # the queued blocks are cancelled while one still runs
    go.set()
    aborting.join(timeout=60)
    assert not aborting.is_alive()
    assert compressed == [0]  # three blocks were queued, and never compressed
    assert out.getvalue().startswith(GZIP_HEADER)
    assert not [t for t in threading.enumerate() if t.name.startswith("osbundle-")]
