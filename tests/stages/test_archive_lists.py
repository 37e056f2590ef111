"""The archive stage over member lists that are not held in memory: the bytes of main's archiver
(a pinned tar sha256), the list read in order and never indexed, memory flat in the count."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from osbundle.errors import BuildError
from osbundle.model import EXEC_MODE, FILE_MODE, ListedMembers, Member, OsSpec, Profile
from osbundle.observer import NullObserver
from osbundle.stages import trailers
from osbundle.stages.archive import archive
from osbundle.tarstream import readers
from osbundle.tarstream.sourcefile import source_at
from osbundle.tarstream.writer import ArchiveResult

PROFILE = Profile(
    path=Path("/p/profile.yaml"),
    root=Path("/p"),
    id="win2019|golden",
    name="golden",
    description="golden archive",
    os=OsSpec("windows", "2019", "x86_64"),
    install={"locale": "en-US"},
    predefined_unattend="autounattend",
    entries=(),
)
# The tar stream of golden_members, as main's archiver (2e45db7) wrote it, with and without
# reader processes (the tar stream does not depend on the deflate implementation).
GOLDEN_TAR_SHA256 = "d1b8eb255c6c09359c966fe83d68c48adc1e8ae220dd46021f066586c0b5ca93"
GOLDEN_TAR_SIZE = 460_800


class GeneratedMembers:
    """A MemberList like a disk-backed one: every pass makes its members anew from `make`, and
    nothing but the count is held. Records each pass (None for a whole pass, else the span)."""

    def __init__(self, count: int, make: Callable[[int], Member]) -> None:
        self.count, self.make = count, make
        self.passes: list[tuple[int, int] | None] = []

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Member]:
        self.passes.append(None)
        return map(self.make, range(self.count))

    def span(self, start: int, stop: int) -> Iterator[Member]:
        self.passes.append((start, stop))
        return map(self.make, range(start, min(stop, self.count)))

    def descriptors(self) -> tuple[int, ...]:
        return ()


def golden_members(root: Path) -> list[Member]:
    out = []

    def file(path: str, data: bytes, kind: str = "file") -> None:
        src = root / path.replace("/", "_")
        src.write_bytes(data)
        o = source_at(src)
        out.append(
            Member(path, kind, FILE_MODE, len(data), str(src), mtime_ns=o.mtime_ns, origin=o)  # type: ignore[arg-type]
        )

    for i in range(40):
        seed = hashlib.sha256(f"f{i}".encode()).digest()
        file(f"custom/files/d{i // 8}/f{i:02d}.bin", (seed * 200)[: (i * 997) % 5000])
    file("custom/software/big.zip", (hashlib.sha256(b"big").digest() * 10000)[:300_001])
    file("drivers/net/e1d.inf", b"[Version]\r\n", kind="driver")
    out.append(
        Member(
            "unattend/autounattend.xml",
            "unattend",
            FILE_MODE,
            9,
            data=b"<unattend",
            rendered=True,
            name="autounattend",
        )
    )
    out.append(
        Member(
            "custom/scripts/run.cmd",
            "script",
            EXEC_MODE,
            5,
            data=b"echo\n",
            rendered=True,
            phase="post",
            name="run",
        )
    )
    return sorted(out, key=lambda m: m.path.encode())


class Discard:
    """A sink that keeps nothing (a BytesIO would grow with the archive)."""

    def write(self, data: bytes, /) -> int:
        return len(data)


def run(
    members: object, threads: int, spill_dir: Path | None = None, out: object = None
) -> ArchiveResult:
    return archive(
        PROFILE,
        members,  # type: ignore[arg-type]
        out or io.BytesIO(),  # type: ignore[arg-type]
        mtime=1700000000,
        compression="default",
        threads=threads,
        observer=NullObserver(),
        spill_dir=spill_dir,
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_the_bytes_are_main_s_for_listed_and_generated_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    monkeypatch.setattr(readers, "MIN_BATCHES", 1)
    monkeypatch.setattr(readers, "SLOT_MEMBERS", 7)
    members = golden_members(tmp_path)
    listed = run(ListedMembers(tuple(members)), threads, tmp_path)
    generated = GeneratedMembers(len(members), members.__getitem__)
    result = run(generated, threads)
    assert (listed.tar_sha256, listed.tar_size) == (GOLDEN_TAR_SHA256, GOLDEN_TAR_SIZE)
    assert result == listed
    assert result.members == len(members) + 2
    whole = [p for p in generated.passes if p is None]
    # The survey, the write, and with readers the planning pass; spans only in the readers.
    assert len(whole) == (3 if threads > 1 and readers._fork_is_safe() else 2)
    assert [p for p in generated.passes if p is not None] == []  # forked: not seen here


def test_a_list_that_changes_between_its_passes_fails_the_build() -> None:
    passes = iter([3, 2])

    class Shrinking(GeneratedMembers):
        def __iter__(self) -> Iterator[Member]:
            self.count = next(passes)
            return super().__iter__()

    def make(i: int) -> Member:
        return Member(f"custom/files/{i}", "file", FILE_MODE, 1, data=b"x")

    with pytest.raises(BuildError, match=r"^the member list changed while it was archived: 3 "):
        run(Shrinking(0, make), threads=1)


def traced_peak(count: int) -> int:
    def make(i: int) -> Member:
        return Member(f"custom/files/{i:07d}", "file", FILE_MODE, 3, data=b"abc")

    tracemalloc.start()
    try:
        run(GeneratedMembers(count, make), threads=1, out=Discard())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_the_stage_s_memory_does_not_grow_with_the_member_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(trailers, "FLUSH_ITEMS", 64)
    traced_peak(100)  # imports and caches that a first build fills
    small, large = traced_peak(3_000), traced_peak(24_000)
    # Anything kept per member (a digest is ~250 bytes, an inventory item ~200, a name ~70)
    # would be 1.5 to 5 MiB more; what the peak varies by is the compressed blocks in flight
    # (up to ~100 KiB, by thread timing).
    assert large - small < 512 << 10, (small, large)
