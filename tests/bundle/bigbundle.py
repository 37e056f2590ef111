"""Write a bundle of N members straight from tarfile and zlib, following docs/bundle-format.md,
in bounded memory: what the readers are measured on before the build side can make one.

    .venv/bin/python -m tests.bundle.bigbundle 1000000 /tmp/big
      -> /tmp/big/20231114221320_corpus.tar.gz and its .sha256

Members are `custom/files/dNNNN/fNNNNNNN.sys` (500 a directory, as in the small-N corpora),
each holding a few distinct bytes; metadata.json is written canonical piece by piece.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import IO, Any

import xxhash

from tests import bundle_factory as bf

TOP = "corpus"
FILENAME = f"20231114221320_{TOP}.tar.gz"
FIXED_BEFORE = {"formatVersion": 1, "installOptions": {"locale": "en-US"}}


def compact(value: Any) -> bytes:
    return bf.canonical({"": value})[4:-2]  # canonical JSON of a value: strip `{"":` and `}\n`


class GzipOut:
    """A file-like sink: one gzip member with the canonical header, hashed as written."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
        self._crc = 0
        self._size = 0
        self.sha256 = hashlib.sha256()
        self._emit(bytes.fromhex("1f8b08000000000000ff"))

    def _emit(self, data: bytes) -> None:
        self.sha256.update(data)
        self._out.write(data)

    def write(self, data: bytes) -> int:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._emit(self._deflate.compress(data))
        return len(data)

    def finish(self) -> None:
        self._emit(self._deflate.flush())
        self._emit(
            self._crc.to_bytes(4, "little") + (self._size & 0xFFFFFFFF).to_bytes(4, "little")
        )


def member(index: int) -> tuple[str, bytes]:
    return f"custom/files/d{index // 500:04d}/f{index:07d}.sys", f"member {index}\n".encode()


def add(tar: tarfile.TarFile, path: str, size: int, data: IO[bytes]) -> None:
    info = tarfile.TarInfo(f"{TOP}/{path}")
    info.size, info.mode, info.mtime = size, 0o644, bf.EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, data)


def write_big_bundle(count: int, directory: Path) -> Path:
    """A well-formed Windows bundle of `count` payload members (plus the two trailers)."""
    path = directory / FILENAME
    with (
        path.open("wb") as raw,
        tempfile.TemporaryFile() as metadata,
        tempfile.TemporaryFile() as sums,
    ):
        gz = GzipOut(raw)
        tar = tarfile.open(fileobj=gz, mode="w|", format=tarfile.PAX_FORMAT)  # type: ignore[call-overload]  # noqa: SIM115
        metadata.write(
            b"{" + b",".join(compact(k) + b":" + compact(v) for k, v in FIXED_BEFORE.items())
        )
        metadata.write(b',"members":[')
        for index in range(count):
            name, data = member(index)
            item = {
                "kind": "file",
                "mode": "0644",
                "path": name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "xxh3_128": xxhash.xxh3_128(data).hexdigest(),
            }
            metadata.write((b"," if index else b"") + compact(item))
            sums.write(f"{item['sha256']}  {name}\n".encode())
            add(tar, name, len(data), io.BytesIO(data))
        profile = {
            "description": "a generated bundle",
            "id": "bench|corpus",
            "name": TOP,
            "os": {"arch": "x86_64", "family": "windows", "release": "2022"},
        }
        metadata.write(b'],"predefinedUnattend":null,"profile":' + compact(profile))
        metadata.write(b',"unattendFiles":[]}\n')
        for trailer, name in ((metadata, "metadata.json"), (sums, "SHA256SUMS")):
            size = trailer.tell()
            if name == "metadata.json":
                trailer.seek(0)
                digest = hashlib.sha256()
                for chunk in iter(lambda: metadata.read(1 << 20), b""):
                    digest.update(chunk)
                sums.write(f"{digest.hexdigest()}  metadata.json\n".encode())
            trailer.seek(0)
            add(tar, name, size, trailer)
        tar.close()
        gz.finish()
    path.with_name(FILENAME + ".sha256").write_text(f"{gz.sha256.hexdigest()}  {FILENAME}\n")
    return path


if __name__ == "__main__":
    directory = Path(sys.argv[2])
    directory.mkdir(parents=True, exist_ok=True)
    print(write_big_bundle(int(sys.argv[1]), directory))
