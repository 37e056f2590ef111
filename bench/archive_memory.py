"""The archive stage's own memory over a member list that is not held in memory (issue 12).

    python bench/archive_memory.py /work/corpus/small-200000 [--limit N] [--threads 2]
    python bench/archive_memory.py --generated 1000000

A corpus' files (`d*/...`, as its bench profile names them) or generated members are listed
the way a disk-backed MemberList lists them: made anew on every pass, nothing but a count per
directory held. Prints the members, the archive's size, tracemalloc's peak for the stage (the
archiver process only: reader processes are forked) and the process' peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import os
import re
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from osbundle.errors import BuildError
from osbundle.model import FILE_MODE, Member, OsSpec, Profile
from osbundle.observer import NullObserver
from osbundle.stages.archive import archive
from osbundle.tarstream.sourcefile import source_at

PROFILE = Profile(
    path=Path("/corpus/profile.yaml"),
    root=Path("/corpus"),
    id="bench|corpus",
    name="corpus",
    description="",
    os=OsSpec("windows", "2022", "x86_64"),
    install={},
    predefined_unattend=None,
    entries=(),
)


class CorpusMembers:
    """The corpus' `d*` files in archive order, read from the directories on every pass."""

    def __init__(self, root: Path, limit: int | None) -> None:
        self.root = root
        self.dirs = sorted(d for d in os.listdir(root) if d.startswith("d"))
        self.counts = [len(os.listdir(root / d)) for d in self.dirs]
        self.total = min(sum(self.counts), limit) if limit is not None else sum(self.counts)

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[Member]:
        return self.span(0, self.total)

    def span(self, start: int, stop: int) -> Iterator[Member]:
        stop = min(stop, self.total)
        first = 0
        for directory, count in zip(self.dirs, self.counts, strict=True):
            if first >= stop:
                return
            if first + count > start:
                names = sorted(os.listdir(self.root / directory))
                for name in names[max(start - first, 0) : stop - first]:
                    yield self.member(directory, name)
            first += count

    def descriptors(self) -> tuple[int, ...]:
        return ()

    def member(self, directory: str, name: str) -> Member:
        source = self.root / directory / name
        origin = source_at(source)
        return Member(
            f"custom/files/{directory}/{name}",
            "file",
            FILE_MODE,
            origin.size,
            source=str(source),
            mtime_ns=origin.mtime_ns,
            origin=origin,
        )


class GeneratedMembers:
    """`count` generated members of a few bytes each (no files: the in-process path)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Member]:
        return self.span(0, self.count)

    def span(self, start: int, stop: int) -> Iterator[Member]:
        for i in range(start, min(stop, self.count)):
            yield Member(f"custom/files/{i:08d}", "file", FILE_MODE, 3, data=b"abc")

    def descriptors(self) -> tuple[int, ...]:
        return ()


class Discard:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self.size += len(data)
        return len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path)
    parser.add_argument("--generated", type=int, help="generated members instead of a corpus")
    parser.add_argument("--limit", type=int, help="the corpus' first N files only")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    members: CorpusMembers | GeneratedMembers
    if args.generated is not None:
        members = GeneratedMembers(args.generated)
    else:
        members = CorpusMembers(args.corpus, args.limit)
    out = Discard()
    tracemalloc.start()
    start = time.perf_counter()
    outcome = "built"
    try:
        archive(
            PROFILE,
            members,
            out,
            mtime=1700000000,
            compression="default",
            threads=args.threads,
            observer=NullObserver(),
        )
    except BuildError as exc:  # e.g. metadata.json over the format's limit: after the payload
        outcome = f"refused after the payload: {exc}"
    wall = time.perf_counter() - start
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    status = Path("/proc/self/status").read_text()
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    hwm = int(found.group(1)) if found else -1
    print(
        f"members={len(members)} archive={out.size} traced_peak_kib={traced_peak >> 10} "
        f"vmhwm_kib={hwm} wall_s={wall:.1f} {outcome}"
    )


if __name__ == "__main__":
    main()
