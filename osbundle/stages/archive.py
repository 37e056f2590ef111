"""Archive stage: stream the payload, then the metadata trailer, into one .tar.gz."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import BinaryIO

from osbundle.archiver import ArchiveResult, BundleWriter, MemberDigest
from osbundle.model import Compression, Member, Profile
from osbundle.observer import BuildObserver
from osbundle.readers import ReaderPool
from osbundle.stages.metadata import inventory_json, metadata_json_of, sha256sums
from osbundle.tarheader import HeaderEncoder

REPORT_EVERY = 0.05  # seconds between per-file progress reports


def archive(
    profile: Profile,
    members: Sequence[Member],
    out: BinaryIO,
    *,
    mtime: int,
    compression: Compression,
    threads: int,
    observer: BuildObserver,
) -> ArchiveResult:
    """Write `members` then `metadata.json` then `SHA256SUMS` under `<profile-name>/`.

    With more than one thread, runs of small files are read by reader processes (readers.py),
    one per thread up to one per CPU; the bytes are the same either way.
    """
    total_bytes = sum(m.size for m in members)
    files_done = 0

    def progress(bytes_done: int) -> None:  # inside a member: bytes move, files do not
        observer.progress(bytes_done, total_bytes, files_done, len(members))

    readers = min(threads, os.cpu_count() or 1) if threads > 1 else 0
    # The readers are forked before the writer starts its threads.
    with (
        ReaderPool(members, profile.name, HeaderEncoder(mtime), readers) as pool,
        BundleWriter(
            out,
            mtime=mtime,
            compression=compression,
            threads=threads,
            progress=progress,
            should_stop=observer.should_stop,
        ) as writer,
    ):
        digests: list[MemberDigest] = []
        inventory: list[str] = []  # metadata.json's member items, in step with `digests`
        bytes_done = 0
        reported = -REPORT_EVERY
        while files_done < len(members):
            batch = pool.batch_at(files_done)
            if batch is None:
                member = members[files_done]
                digests.append(add_member(writer, profile.name, member))
                inventory.append(inventory_json(member, digests[-1]))
                files_done += 1
                bytes_done += member.size
            else:
                prepared = pool.take(batch)
                writer.add_prepared(prepared.tar, prepared.digests)
                pool.release(batch)
                digests += prepared.digests
                # While the readers fill the slot just released.
                inventory += map(
                    inventory_json, members[batch.start : batch.stop], prepared.digests
                )
                files_done = batch.stop
                bytes_done += batch.payload
            # Throttled by time: per-file calls cost ~3 us each on a 50,000-file build.
            now = time.monotonic()
            if now - reported >= REPORT_EVERY or files_done == len(members):
                reported = now
                observer.progress(bytes_done, total_bytes, files_done, len(members))
        metadata = metadata_json_of(profile, members, inventory)
        metadata_digest = writer.add_bytes(f"{profile.name}/metadata.json", metadata, mode=0o644)
        sums = [(m.path, d.sha256) for m, d in zip(members, digests, strict=True)]
        sums.append(("metadata.json", metadata_digest.sha256))
        writer.add_bytes(f"{profile.name}/SHA256SUMS", sha256sums(sums), mode=0o644)
        return writer.close()


def add_member(writer: BundleWriter, top: str, member: Member) -> MemberDigest:
    name = f"{top}/{member.path}"
    if member.data is not None:
        return writer.add_bytes(name, member.data, mode=member.mode)
    assert member.source is not None  # a Member has exactly one of data and source
    return writer.add_file(
        name, member.source, size=member.size, mode=member.mode, mtime_ns=member.mtime_ns
    )
