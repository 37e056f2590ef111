"""Archive stage: stream the payload, then the metadata trailers, into one .tar.gz.

The member list is read twice, never indexed: a survey (count, bytes, the unattend members
metadata.json names) for the progress totals, then the pass that writes. Nothing per member is
kept: the trailers are spilled to temporary files as the digests arrive (stages/trailers.py).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from osbundle.errors import BuildError
from osbundle.interrupts import signals_held
from osbundle.model import (
    MAX_METADATA_BYTES,
    METADATA,
    ByteSink,
    Compression,
    Member,
    MemberDigest,
    MemberList,
    Profile,
)
from osbundle.observer import BuildObserver
from osbundle.stages.trailers import Trailers
from osbundle.tarstream.header import HeaderEncoder
from osbundle.tarstream.readers import ReaderPool
from osbundle.tarstream.writer import ArchiveResult, BundleWriter

REPORT_EVERY = 0.05  # seconds between per-file progress reports


@dataclass(frozen=True)
class Survey:
    """What the archive stage needs of the member list before it writes."""

    count: int
    size: int
    unattend: tuple[Member, ...]  # what metadata.json's profile fields name: few, and small


def survey(members: MemberList) -> Survey:
    """One pass over `members`: their count, total size, and unattend members."""
    count = size = 0
    unattend: list[Member] = []
    for member in members:
        count += 1
        size += member.size
        if member.kind == "unattend":
            unattend.append(member)
    return Survey(count, size, tuple(unattend))


def archive(
    profile: Profile,
    members: MemberList,
    out: ByteSink,
    *,
    mtime: int,
    compression: Compression,
    threads: int,
    observer: BuildObserver,
    spill_dir: Path | None = None,
    surveyed: Survey | None = None,
) -> ArchiveResult:
    """Write `members` then `metadata.json` then `SHA256SUMS` under `<profile-name>/`.

    With more than one thread, runs of small files are read by reader processes (readers.py),
    one per thread up to one per CPU; the bytes are the same either way. The trailers are
    spilled to temporary files in `spill_dir` (None: the system's temporary directory).
    `surveyed`: `survey(members)` when the caller knows it (one pass less over the list).
    """
    surveyed = surveyed or survey(members)
    progress = Progress(observer, surveyed.size, surveyed.count)
    with contextlib.ExitStack() as owned:
        trailers = owned.enter_context(Trailers(profile, surveyed.unattend, spill_dir))
        with signals_held():  # processes and threads start: an interrupt waits until they are owned
            pool = owned.enter_context(
                ReaderPool(members, profile.name, HeaderEncoder(mtime), readers_for(threads))
            )  # forked before the writer starts its threads
            writer = owned.enter_context(
                BundleWriter(
                    out,
                    mtime=mtime,
                    compression=compression,
                    threads=threads,
                    progress=progress.inside_member,
                    should_stop=observer.should_stop,
                )
            )
        written = write_payload(
            pool, writer, profile.name, iter(members), trailers=trailers, progress=progress
        )
        if written != surveyed.count:
            raise BuildError(
                f"the member list changed while it was archived: {surveyed.count:,} members "
                f"counted, {written:,} written"
            )
        size = trailers.metadata_size()
        if size > MAX_METADATA_BYTES:  # the readers would refuse it
            raise BuildError(
                f"{METADATA} would be {size:,} bytes, over the format's limit of "
                f"{MAX_METADATA_BYTES:,} ({surveyed.count:,} members): split the profile"
            )
        trailers.write(writer)
        return writer.close()


def write_payload(
    pool: ReaderPool,
    writer: BundleWriter,
    top: str,
    members: Iterator[Member],
    *,
    trailers: Trailers,
    progress: Progress,
) -> int:
    """Every member in order, from the readers' batches or in-process, each spilled to the
    trailers as its digests arrive; the number of members written."""
    position = 0
    while True:
        batch = pool.batch_at(position)
        if batch is None:
            member = next(members, None)
            if member is None:
                return position
            trailers.add(member, add_member(writer, top, member))
            position += 1
            progress.members_done(position, member.size)
        else:
            run = list(itertools.islice(members, batch.stop - batch.start))
            prepared = pool.take(batch, run)
            writer.add_prepared(prepared.tar, prepared.digests)
            pool.release(batch)
            trailers.add_run(run, prepared.digests)  # while the readers fill the slot released
            position = batch.stop
            progress.members_done(position, batch.payload)


@dataclass
class Progress:
    """Reports bytes and files to the observer: inside members as the archiver streams them,
    and after members at most every REPORT_EVERY seconds (per-file calls cost ~3 us each on a
    50,000-file build) and at the last one."""

    observer: BuildObserver
    total_bytes: int
    total_files: int
    files_done: int = 0
    bytes_done: int = 0
    reported: float = -REPORT_EVERY

    def inside_member(self, bytes_done: int) -> None:
        self.observer.progress(bytes_done, self.total_bytes, self.files_done, self.total_files)

    def members_done(self, files_done: int, size: int) -> None:
        self.files_done = files_done
        self.bytes_done += size
        now = time.monotonic()
        if now - self.reported >= REPORT_EVERY or files_done == self.total_files:
            self.reported = now
            self.observer.progress(self.bytes_done, self.total_bytes, files_done, self.total_files)


def readers_for(threads: int) -> int:
    """One reader process per compress thread, up to one per CPU; none for one thread."""
    return min(threads, os.cpu_count() or 1) if threads > 1 else 0


def add_member(writer: BundleWriter, top: str, member: Member) -> MemberDigest:
    name = f"{top}/{member.path}"
    if member.data is not None:
        return writer.add_bytes(name, member.data, mode=member.mode)
    assert member.source is not None
    assert member.origin is not None
    return writer.add_file(name, member.source, member.origin, mode=member.mode)
