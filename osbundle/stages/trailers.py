"""The two trailers, `metadata.json` and `SHA256SUMS`, spilled to temporary files as the
payload's digests arrive and then streamed into the archive from them.

Nothing per member stays in memory: each member's metadata.json inventory item and its
SHA256SUMS line are appended (buffered) to two `tempfile.TemporaryFile`s. metadata.json is then
written as its canonical prefix (every key before "members"), "[", the spilled items joined by
",", "]", and its suffix: the bytes of `metadata.metadata_json_of`, whose size is known before
a byte of it is written. SHA256SUMS is its spilled lines, then the line of metadata.json.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from osbundle.model import FILE_MODE, METADATA, SHA256SUMS, Member, MemberDigest, Profile
from osbundle.stages.metadata import inventory_json, metadata_frame, sha256sum_line
from osbundle.tarstream.writer import BundleWriter

FLUSH_ITEMS = 4096  # items joined and encoded in one write (one write per item costs more)
READ_CHUNK = 1 << 20


class Spill:
    """Text items appended to an unnamed temporary file, `separator` between them."""

    def __init__(self, spill_dir: Path | None, separator: str = "") -> None:
        # Owned by the Spill, closed by close() (Trailers is the context manager).
        self._file = tempfile.TemporaryFile(dir=spill_dir)  # noqa: SIM115
        self._separator = separator
        self._pending: list[str] = []
        self._written = False  # an item is in the file: the next flush starts with a separator
        self._size = 0  # bytes in the file

    def add(self, item: str) -> None:
        self._pending.append(item)
        if len(self._pending) >= FLUSH_ITEMS:
            self._flush()

    def chunks(self) -> Iterator[memoryview]:
        """The file's bytes from its start, one reused buffer at a time (copy before next)."""
        self._flush()
        self._file.seek(0)
        buffer = bytearray(READ_CHUNK)
        view = memoryview(buffer)
        while n := self._file.readinto(buffer):
            yield view[:n]

    def close(self) -> None:
        self._file.close()

    def _flush(self) -> None:
        if not self._pending:
            return
        text = self._separator.join(self._pending)
        if self._written:
            text = self._separator + text
        data = text.encode()
        self._file.seek(0, os.SEEK_END)  # after a read of the file (chunks) too
        self._file.write(data)
        self._size += len(data)
        self._written = True
        self._pending = []

    def size(self) -> int:
        """The bytes of every item added, separators included (the pending ones written now)."""
        self._flush()
        return self._size


class Trailers:
    """What the trailers need of the payload, spilled member by member (`add`, `add_run`), and
    the two trailers written from it (`metadata_size`, then `write`)."""

    def __init__(
        self, profile: Profile, unattend: Sequence[Member], spill_dir: Path | None
    ) -> None:
        self._profile = profile
        self._prefix, self._suffix = metadata_frame(profile, unattend)
        self._inventory = Spill(spill_dir, ",")
        try:
            self._sums = Spill(spill_dir)
        except BaseException:
            self._inventory.close()
            raise

    def __enter__(self) -> Trailers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._inventory.close()
        self._sums.close()

    def add(self, member: Member, digest: MemberDigest) -> None:
        self._inventory.add(inventory_json(member, digest))
        self._sums.add(sha256sum_line(member.path, digest.sha256))

    def add_run(self, members: Iterable[Member], digests: Iterable[MemberDigest]) -> None:
        for member, digest in zip(members, digests, strict=True):
            self.add(member, digest)

    def metadata_size(self) -> int:
        """The bytes of metadata.json: `metadata_json_of`'s length, before it is written."""
        return len(self._prefix) + 1 + self._inventory.size() + 1 + len(self._suffix)

    def write(self, writer: BundleWriter) -> None:
        """metadata.json, then SHA256SUMS (every payload member's line, then metadata.json's)."""
        top = self._profile.name
        metadata: Iterable[bytes | memoryview] = itertools.chain(
            (self._prefix, b"["), self._inventory.chunks(), (b"]", self._suffix)
        )
        digest = writer.add_stream(
            f"{top}/{METADATA}", self.metadata_size(), metadata, mode=FILE_MODE
        )
        last = sha256sum_line(METADATA, digest.sha256).encode()
        size = self._sums.size() + len(last)
        sums: Iterable[bytes | memoryview] = itertools.chain(self._sums.chunks(), (last,))
        writer.add_stream(f"{top}/{SHA256SUMS}", size, sums, mode=FILE_MODE)
