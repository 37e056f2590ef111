"""The two digests of every member, sha256 and xxh3-128: of bytes in memory, or of a source file.

The archiver computes them on the very bytes it streams; `plan` computes the same for a build it
does not run, through the same read path (sourcefile.py).
"""

from __future__ import annotations

import hashlib
import os

import xxhash

from osbundle.model import SourceId
from osbundle.tarstream.sourcefile import (
    StrPath,
    check_unchanged,
    grew,
    open_source,
    read_error,
    read_some,
)

CHUNK = 1 << 20


def digest_bytes(data: bytes | memoryview) -> tuple[str, str]:
    """(sha256, xxh3-128) of `data`, in hex."""
    return hashlib.sha256(data).hexdigest(), xxhash.xxh3_128_hexdigest(data)


def digest_source(source: StrPath, origin: SourceId) -> tuple[str, str]:
    """(sha256, xxh3-128) of a source file that must still be the one collected as `origin`."""
    sha256, xxh = hashlib.sha256(), xxhash.xxh3_128()
    size = origin.size
    view = memoryview(bytearray(min(size, CHUNK) + 1))
    fd = open_source(source, origin)
    try:
        remaining, probed = size, False
        while remaining:
            probed = len(view) > remaining  # this read also asks for the byte after the end
            n = read_some(fd, source, view, remaining, size)
            sha256.update(view[:n])
            xxh.update(view[:n])
            remaining -= n
        if not probed and read_probe(fd, source):
            raise grew(source, size)
        check_unchanged(fd, source, origin)
    finally:
        os.close(fd)
    return sha256.hexdigest(), xxh.hexdigest()


def read_probe(fd: int, source: StrPath) -> bool:
    """Whether a file read to its expected size still has a byte to give."""
    try:
        return bool(os.read(fd, 1))
    except OSError as exc:
        raise read_error(source, exc) from exc
