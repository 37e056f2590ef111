"""The archive stage: payload then metadata.json then SHA256SUMS, digests, progress, readers."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import tarfile
import types
from pathlib import Path
from unittest import mock

import pytest
import xxhash
from hypothesis import given
from hypothesis import strategies as st

from osbundle.errors import BuildError
from osbundle.model import (
    EXEC_MODE,
    FILE_MODE,
    ListedMembers,
    Member,
    MemberDigest,
    OsSpec,
    Profile,
)
from osbundle.observer import NullObserver
from osbundle.stages import archive as archive_stage
from osbundle.stages.archive import REPORT_EVERY, Progress, archive, readers_for
from osbundle.tarstream import readers
from osbundle.tarstream.header import HeaderEncoder
from osbundle.tarstream.writer import ArchiveResult, BundleWriter
from tests.fakes import FakeClock
from tests.origins import collected

EPOCH = 1700000000
PROFILE = Profile(
    path=Path("/p/profile.yaml"),
    root=Path("/p"),
    id="rhel|top",
    name="top",
    description="archive test",
    os=OsSpec("rhel", "9", "x86_64"),
    install={},
    predefined_unattend=None,
    entries=(),
)

Report = tuple[int, int, int, int]


class Recorder(NullObserver):
    def __init__(self) -> None:
        self.reports: list[Report] = []

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        self.reports.append((bytes_done, bytes_total, files_done, files_total))


def file_member(root: Path, path: str, data: bytes, *, mode: int = FILE_MODE) -> Member:
    source = root / path.replace("/", "_")
    source.write_bytes(data)
    origin = collected(source)
    return Member(
        path, "file", mode, len(data), source=str(source), mtime_ns=origin.mtime_ns, origin=origin
    )


def data_member(path: str, data: bytes) -> Member:
    return Member(path=path, kind="script", mode=EXEC_MODE, size=len(data), data=data)


def sample_members(root: Path) -> list[Member]:
    return [
        file_member(root, "custom/files/a.txt", b"alpha\n"),
        file_member(root, "custom/files/empty", b""),
        file_member(root, "custom/files/z.bin", os.urandom(70_000)),
        data_member("custom/scripts/run.sh", b"#!/bin/sh\necho rendered\n"),
    ]


def run_archive(members: list[Member], threads: int = 1) -> tuple[bytes, Recorder, ArchiveResult]:
    out = io.BytesIO()
    observer = Recorder()
    result = archive(
        PROFILE,
        ListedMembers(tuple(members)),
        out,
        mtime=EPOCH,
        compression="fast",
        threads=threads,
        observer=observer,
    )
    return out.getvalue(), observer, result


def tar_contents(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for info in tar:
            f = tar.extractfile(info)
            assert f is not None
            out.append((info, f.read()))
    return out


def test_members_then_metadata_then_sha256sums_last(tmp_path: Path) -> None:
    members = sample_members(tmp_path)
    data, _, _ = run_archive(members)
    contents = tar_contents(data)
    names = [info.name for info, _ in contents]
    assert names == [f"top/{m.path}" for m in members] + ["top/metadata.json", "top/SHA256SUMS"]
    by_name = {info.name: (info, body) for info, body in contents}
    for member in members:
        info, body = by_name[f"top/{member.path}"]
        expected = (
            member.data if member.data is not None else Path(member.source or "").read_bytes()
        )
        assert body == expected
        assert info.mode == member.mode
        assert info.mtime == EPOCH
    assert by_name["top/metadata.json"][0].mode == FILE_MODE
    assert by_name["top/SHA256SUMS"][0].mode == FILE_MODE


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[MemberDigest]:
    """The digest of every member the writer writes, in order (the archive stage keeps none)."""
    digests: list[MemberDigest] = []

    def recording(method: str) -> None:
        real = getattr(BundleWriter, method)

        def record(self: BundleWriter, *args: object, **kwargs: object) -> MemberDigest:
            digest: MemberDigest = real(self, *args, **kwargs)
            digests.append(digest)
            return digest

        monkeypatch.setattr(BundleWriter, method, record)

    for method in ("add_file", "add_bytes", "add_stream"):
        recording(method)
    real_prepared = BundleWriter.add_prepared

    def prepared(self: BundleWriter, tar: memoryview, batch: list[MemberDigest]) -> None:
        real_prepared(self, tar, batch)
        digests.extend(batch)

    monkeypatch.setattr(BundleWriter, "add_prepared", prepared)
    return digests


def test_the_digests_written_are_those_of_each_member_s_bytes(
    tmp_path: Path, written: list[MemberDigest]
) -> None:
    data, _, result = run_archive(sample_members(tmp_path))
    contents = tar_contents(data)
    assert result.members == len(contents)
    assert [d.name for d in written] == [info.name for info, _ in contents]
    for digest, (_, body) in zip(written, contents, strict=True):
        assert digest.size == len(body)
        assert digest.sha256 == hashlib.sha256(body).hexdigest()
        assert digest.xxh3_128 == xxhash.xxh3_128_hexdigest(body)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data)


def test_sha256sums_lists_every_member_and_metadata(tmp_path: Path) -> None:
    members = sample_members(tmp_path)
    data, _, _ = run_archive(members)
    contents = dict((info.name, body) for info, body in tar_contents(data))
    lines = contents["top/SHA256SUMS"].decode().splitlines()
    expected = [
        f"{hashlib.sha256(contents[f'top/{m.path}']).hexdigest()}  {m.path}" for m in members
    ]
    expected.append(f"{hashlib.sha256(contents['top/metadata.json']).hexdigest()}  metadata.json")
    assert lines == expected


def test_reader_processes_give_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forks: list[int] = []
    real_fork = readers.ReaderPool._fork

    def counted_fork(pool: readers.ReaderPool, encoder: HeaderEncoder) -> None:
        forks.append(1)
        real_fork(pool, encoder)

    monkeypatch.setattr(readers.ReaderPool, "_fork", counted_fork)
    monkeypatch.setattr("osbundle.stages.archive.os.cpu_count", lambda: 2)
    # Small files broken up by large ones: enough batches for the reader pool to fork.
    members = []
    for i in range(readers.MIN_BATCHES + 1):
        members.append(file_member(tmp_path, f"custom/files/{i}a", os.urandom(3000)))
        members.append(file_member(tmp_path, f"custom/files/{i}b", os.urandom(3000)))
        big = os.urandom(readers.SMALL_FILE + 1)
        members.append(file_member(tmp_path, f"custom/files/{i}c", big, mode=EXEC_MODE))
    alone, _, one_result = run_archive(members, threads=1)
    assert forks == []
    can_fork = readers._fork_is_safe()  # not if another test left a thread running
    shared, observer, two_result = run_archive(members, threads=2)
    assert len(forks) == (2 if can_fork else 0)
    assert shared == alone
    assert two_result == one_result
    assert observer.reports[-1] == (
        sum(m.size for m in members),
        sum(m.size for m in members),
        len(members),
        len(members),
    )


def test_the_last_member_is_always_reported(tmp_path: Path) -> None:
    members = sample_members(tmp_path)
    _, observer, _ = run_archive(members)
    total = sum(m.size for m in members)
    assert observer.reports[-1] == (total, total, len(members), len(members))
    files_done = [r[2] for r in observer.reports]
    assert files_done == sorted(files_done)


def test_no_members_is_just_the_trailers() -> None:
    data, observer, _ = run_archive([])
    assert [info.name for info, _ in tar_contents(data)] == ["top/metadata.json", "top/SHA256SUMS"]
    assert observer.reports == []


# -- Progress ----------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(archive_stage, "time", types.SimpleNamespace(monotonic=fake))
    return fake


def test_progress_reports_at_most_every_report_every(clock: FakeClock) -> None:
    observer = Recorder()
    progress = Progress(observer, total_bytes=100, total_files=5)
    clock.now = 10.0
    progress.members_done(1, 10)  # the first is reported
    clock.now = 10.0 + REPORT_EVERY / 2
    progress.members_done(2, 10)  # too soon
    clock.now = 10.0 + REPORT_EVERY * 1.5
    progress.members_done(3, 10)  # REPORT_EVERY after the last report
    clock.now = 10.0 + REPORT_EVERY * 1.6
    progress.members_done(4, 10)  # too soon
    progress.members_done(5, 60)  # but the last member is always reported
    assert observer.reports == [(10, 100, 1, 5), (30, 100, 3, 5), (100, 100, 5, 5)]


def test_progress_inside_a_member_is_passed_on_at_once(clock: FakeClock) -> None:
    observer = Recorder()
    progress = Progress(observer, total_bytes=1000, total_files=3)
    progress.members_done(1, 100)
    progress.inside_member(400)
    progress.inside_member(500)  # no throttling: the writer already reports every ~4 MiB
    assert observer.reports == [(100, 1000, 1, 3), (400, 1000, 1, 3), (500, 1000, 1, 3)]


@given(
    steps=st.lists(
        st.tuples(st.integers(0, 80).map(lambda ms: ms / 1000), st.integers(0, 1 << 20)),
        min_size=1,
        max_size=40,
    )
)
def test_progress_throttles_and_never_misses_the_end(steps: list[tuple[float, int]]) -> None:
    clock = FakeClock()
    observer = Recorder()
    progress = Progress(observer, sum(s for _, s in steps), len(steps))
    times: list[float] = []
    with mock.patch.object(archive_stage, "time", types.SimpleNamespace(monotonic=clock)):
        for files_done, (dt, size) in enumerate(steps, 1):
            clock.now += dt
            before = len(observer.reports)
            progress.members_done(files_done, size)
            if len(observer.reports) > before:
                times.append(clock.now)
            elif files_done < len(steps):
                assert times, "the first member is always reported"
                assert clock.now - times[-1] < REPORT_EVERY, "a due report was skipped"
    assert observer.reports[-1][2] == len(steps)  # the last member, however soon
    assert observer.reports[-1][0] == observer.reports[-1][1]
    for earlier, later in itertools.pairwise(times[:-1]):
        assert later - earlier >= REPORT_EVERY
    bytes_seen = [r[0] for r in observer.reports]
    assert bytes_seen == sorted(bytes_seen)


# -- readers_for ---------------------------------------------------------------------------


def test_readers_for_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("osbundle.stages.archive.os.cpu_count", lambda: 4)
    assert [readers_for(t) for t in (0, 1, 2, 3, 4, 5, 64)] == [0, 0, 2, 3, 4, 4, 4]
    monkeypatch.setattr("osbundle.stages.archive.os.cpu_count", lambda: None)  # unknown: one CPU
    assert [readers_for(t) for t in (1, 2, 8)] == [0, 1, 1]


def test_a_metadata_json_over_the_format_s_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = sample_members(tmp_path)
    data, _, _ = run_archive(members)
    size = len(tar_contents(data)[-2][1])
    monkeypatch.setattr(archive_stage, "MAX_METADATA_BYTES", size - 1)
    with pytest.raises(BuildError, match=rf"^metadata\.json would be {size:,} bytes, over the "):
        run_archive(members)
    monkeypatch.setattr(archive_stage, "MAX_METADATA_BYTES", size)
    assert run_archive(members)[0] == data
