"""Reader processes: the same bytes, digests and errors as the in-process archiver, bounded
batches, and no process or descriptor left behind."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osbundle.errors import BuildError, Cancelled
from osbundle.model import ListedMembers, Member, Profile
from osbundle.observer import NullObserver
from osbundle.profile.validate import load_checked_profile
from osbundle.stages.archive import archive
from osbundle.stages.collect import collect
from osbundle.tarstream import readers
from osbundle.tarstream.header import HeaderEncoder
from osbundle.tarstream.readers import (
    SLOT_TAR,
    SMALL_FILE,
    ReaderPool,
    plan_batches,
    small_file_size,
)
from osbundle.tarstream.writer import ArchiveResult
from tests.factory import REPO, make_profile

MTIME = 315532800


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Readers for any tree with at least one batch, batches of at most 3 members, and the pid
    of every reader forked."""
    monkeypatch.setattr(readers, "MIN_BATCHES", 1)
    monkeypatch.setattr(readers, "SLOT_MEMBERS", 3)
    pids: list[int] = []
    fork = ReaderPool._fork

    def recording(self: ReaderPool, encoder: HeaderEncoder) -> None:
        fork(self, encoder)
        pids.append(self._pids[-1])

    monkeypatch.setattr(ReaderPool, "_fork", recording)
    yield pids
    for pid in pids:
        assert not _alive(pid), "a reader outlived its pool"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def loaded(root: Path, files: dict[str, bytes]) -> tuple[Profile, tuple[Member, ...]]:
    with load_checked_profile(make_profile(root, files)) as checked:
        return checked.profile, collect(list(checked.files))


class StopAfter(NullObserver):
    def __init__(self, polls: int) -> None:
        self.polls = polls

    def should_stop(self) -> bool:
        self.polls -= 1
        return self.polls < 0


def archived(
    profile: Profile,
    members: tuple[Member, ...],
    threads: int,
    observer: NullObserver | None = None,
) -> tuple[bytes, ArchiveResult]:
    out = io.BytesIO()
    result = archive(
        profile,
        ListedMembers(members),
        out,
        mtime=MTIME,
        compression="default",
        threads=threads,
        observer=observer or NullObserver(),
    )
    return out.getvalue(), result


SIZES = st.sampled_from([0, 1, 511, 512, 513, 4096, 70_000, SMALL_FILE, SMALL_FILE + 1])


@st.composite
def trees(draw: st.DrawFn) -> dict[str, bytes]:
    names = draw(st.lists(st.text("abcé-_", min_size=1, max_size=8), min_size=1, max_size=14))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    long_dir = "x" * draw(st.sampled_from([1, 120]))  # names that need a pax header too
    return {f"{long_dir}/{i:02d}-{n}": rng.randbytes(draw(SIZES)) for i, n in enumerate(names)}


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(files=trees())
def test_readers_write_the_bytes_and_digests_of_the_in_process_archiver(
    tmp_path_factory: pytest.TempPathFactory, forks: list[int], files: dict[str, bytes]
) -> None:
    before = len(forks)
    profile, members = loaded(tmp_path_factory.mktemp("p"), files)
    alone, alone_result = archived(profile, members, threads=1)
    assert len(forks) == before
    for threads in (2, 3):
        with_readers, result = archived(profile, members, threads=threads)
        assert with_readers == alone
        assert result == alone_result
    if any(m.size <= SMALL_FILE for m in members):
        assert len(forks) > before, "the readers were not used"


@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(0, SMALL_FILE + 10), st.integers(1, 150)),
        max_size=40,
    ),
    st.integers(1, 5),
    st.sampled_from([MTIME, 8**11]),  # from 8**11 on, every header carries a pax mtime record
)
def test_batches_are_runs_of_small_files_that_fit_a_slot(
    shapes: list[tuple[bool, int, int]], per_batch: int, mtime: int
) -> None:
    members = [
        Member(path="d/" + "n" * length, kind="file", mode=0o644, size=size, source="/x")
        if is_file
        else Member(path="d/" + "n" * length, kind="file", mode=0o644, size=size, data=b"")
        for is_file, size, length in shapes
    ]
    encoder = HeaderEncoder(mtime)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers, "SLOT_MEMBERS", per_batch)
        batches = list(plan_batches(members, "top", encoder))
    covered = [p for b in batches for p in range(b.start, b.stop)]
    small = [p for p, m in enumerate(members) if m.source is not None and m.size <= SMALL_FILE]
    assert covered == small
    for index, batch in enumerate(batches):
        assert batch.index == index
        assert 0 < batch.stop - batch.start <= per_batch
        run = members[batch.start : batch.stop]
        sizes = [small_file_size(m, "top", encoder) for m in run]
        assert batch.tar_size == sum(s for s in sizes if s is not None) <= SLOT_TAR
        assert batch.payload == sum(m.size for m in run)
        exact = [
            len(encoder.encode(f"top/{m.path}", m.size, m.mode)) + m.size + (-m.size % 512)
            for m in run
        ]
        assert sizes == exact


def _grow(path: Path) -> None:
    with path.open("ab") as f:
        f.write(b"more")


def _symlink(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.with_name("elsewhere"))


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_grow, "size changed since the profile was collected"),
        (_symlink, "is a symbolic link"),
        (_fifo, "not a regular file"),
    ],
)
def test_a_changed_file_fails_with_the_in_process_message(
    tmp_path: Path, forks: list[int], change: object, message: str
) -> None:
    files = {f"f{i:02d}": b"x" * 100 for i in range(20)}
    profile, members = loaded(tmp_path / "p", files)
    assert callable(change)
    change(tmp_path / "p" / "f13")
    errors = []
    for threads in (1, 2):
        with pytest.raises(BuildError, match=message) as caught:
            archived(profile, members, threads=threads)
        errors.append(str(caught.value))
    assert errors[0] == errors[1]
    assert forks


def test_a_reader_that_dies_fails_the_build(tmp_path: Path, forks: list[int]) -> None:
    profile, members = loaded(tmp_path / "p", {f"f{i:02d}": b"y" * 10 for i in range(40)})
    with ReaderPool(ListedMembers(members), profile.name, HeaderEncoder(MTIME), 2) as pool:
        os.kill(forks[1], signal.SIGKILL)
        with pytest.raises(BuildError, match="a reader process ended unexpectedly"):
            take_every_batch(pool, members)


def take_every_batch(pool: ReaderPool, members: tuple[Member, ...]) -> None:
    position = 0
    while (batch := pool.batch_at(position)) is not None:
        pool.take(batch, members[batch.start : batch.stop])
        pool.release(batch)
        position = batch.stop


def test_readers_keep_no_descriptor_of_the_archiver(tmp_path: Path, forks: list[int]) -> None:
    profile, members = loaded(tmp_path / "p", {f"f{i:02d}": b"z" for i in range(12)})
    held = os.open(tmp_path / "lock", os.O_CREAT | os.O_RDWR)
    try:
        with ReaderPool(ListedMembers(members), profile.name, HeaderEncoder(MTIME), 2) as pool:
            for position in (0, 3):  # one batch from each reader: both are serving by now
                batch = pool.batch_at(position)
                assert batch is not None
                pool.take(batch, members[batch.start : batch.stop])
                pool.release(batch)
            for pid in forks:
                fds = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
                assert held not in fds
                targets = sorted(os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds - {0, 1, 2})
                # Its request and reply pipes, and the one profile folder it opened itself.
                assert [t for t in targets if t.startswith("pipe:")] == targets[-2:]
                assert targets[:-2] == [os.path.realpath(tmp_path / "p")]
    finally:
        os.close(held)


def test_no_readers_while_another_thread_runs(tmp_path: Path, forks: list[int]) -> None:
    profile, members = loaded(tmp_path / "p", {f"f{i:02d}": b"w" * 700 for i in range(12)})
    alone, _ = archived(profile, members, threads=1)
    done = threading.Event()
    other = threading.Thread(target=done.wait)
    other.start()
    try:
        with_thread, _ = archived(profile, members, threads=2)
    finally:
        done.set()
        other.join()
    assert with_thread == alone
    assert forks == []


def test_cancel_stops_the_readers(tmp_path: Path, forks: list[int]) -> None:
    profile, members = loaded(tmp_path / "p", {f"f{i:02d}": b"v" * 300 for i in range(30)})
    with pytest.raises(Cancelled):
        archived(profile, members, threads=2, observer=StopAfter(3))
    assert forks  # and the fixture checks that every one of them is gone


READERS_THEN_WAIT = """
import sys, time
from pathlib import Path
from osbundle.tarstream import readers
from osbundle.stages.collect import collect
from osbundle.tarstream.header import HeaderEncoder
from osbundle.model import ListedMembers
from osbundle.profile.validate import load_checked_profile
readers.MIN_BATCHES, readers.SLOT_MEMBERS = 1, 1
with load_checked_profile(Path(sys.argv[1])) as checked:
    members = ListedMembers(collect(list(checked.files)))
pool = readers.ReaderPool(members, "p", HeaderEncoder(0), 2)
print(*pool._pids, flush=True)
time.sleep(60)
"""


def test_readers_end_when_the_archiver_is_killed(tmp_path: Path) -> None:
    root = make_profile(tmp_path / "p", {f"f{i:02d}": b"u" for i in range(30)})
    main = subprocess.Popen(
        [sys.executable, "-c", READERS_THEN_WAIT, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert main.stdout is not None
    with main.stdout:
        pids = [int(p) for p in main.stdout.readline().split()]
    assert len(pids) == 2
    main.kill()
    main.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(map(_running, pids)):
        time.sleep(0.02)
    assert not any(map(_running, pids)), "readers outlived a killed archiver"


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit status may wait for a reaper that never comes)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_without_a_process_to_spare_the_archiver_reads_alone(
    tmp_path: Path, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    profile, members = loaded(tmp_path / "p", {f"f{i:02d}": b"t" * 50 for i in range(12)})
    alone, _ = archived(profile, members, threads=1)

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    assert archived(profile, members, threads=2)[0] == alone
    assert forks == []


class CountedMembers:
    """A MemberList that counts the members its passes hand out."""

    def __init__(self, items: tuple[Member, ...]) -> None:
        self.items, self.handed = items, 0

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Member]:
        for member in self.items:
            self.handed += 1
            yield member

    def span(self, start: int, stop: int) -> Iterator[Member]:
        return iter(self.items[start:stop])  # in the readers: not counted here

    def descriptors(self) -> tuple[int, ...]:
        return ()


def test_batches_are_planned_only_as_far_ahead_as_the_ring_has_slots(
    tmp_path: Path, forks: list[int]
) -> None:
    profile, members = loaded(tmp_path / "p", {f"f{i:03d}": b"s" * 20 for i in range(90)})
    counted = CountedMembers(members)
    with ReaderPool(counted, profile.name, HeaderEncoder(MTIME), 2) as pool:
        slots = 2 * 2 + 2  # batches of 3 (the fixture): 30 in all
        assert pool._slots == slots
        assert len(pool._ahead) == slots
        # One member past the last batch requested, at most: the plan has not read the rest.
        assert counted.handed <= slots * 3 + 1 < len(members)
        position = 0
        while (batch := pool.batch_at(position)) is not None:
            assert len(pool._ahead) <= slots
            pool.take(batch, members[batch.start : batch.stop])
            pool.release(batch)
            position = batch.stop
        assert position == len(members)
        assert counted.handed == len(members)
