"""LocalDestination: temporary name, lock, no-clobber publish, fsync, discard and sweep."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.destinations import local
from osbundle.destinations.local import LocalDestination, LocalUpload, describe_os_error
from osbundle.errors import BuildError
from osbundle.stages.export import checksum_file
from tests.planted import assert_untouched, plant


def write_bundle(outdir: Path, name: str, data: bytes, *, force: bool = False) -> LocalUpload:
    upload = LocalDestination(outdir).open(name, "7", force=force)
    upload.file.write(data)
    return upload


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_commit_publishes_bundle_and_checksum_atomically(tmp_path: Path) -> None:
    upload = write_bundle(tmp_path, "b.tar.gz", b"payload")
    assert upload.temp.name == ".b.tar.gz.tmp-7"
    assert upload.name == "b.tar.gz"
    assert not (tmp_path / "b.tar.gz").exists()  # nothing at the final path until commit
    digest = hashlib.sha256(b"payload").hexdigest()
    upload.commit(checksum_file(upload.name, digest))
    assert (tmp_path / "b.tar.gz").read_bytes() == b"payload"
    assert (tmp_path / "b.tar.gz.sha256").read_text() == f"{digest}  b.tar.gz\n"
    assert names(tmp_path) == ["b.tar.gz", "b.tar.gz.sha256"]
    assert upload.location == str((tmp_path / "b.tar.gz").resolve())


def test_existing_output_is_refused_up_front_without_force(tmp_path: Path) -> None:
    (tmp_path / "b.tar.gz").write_bytes(b"old")
    with pytest.raises(BuildError, match="already exists"):
        LocalDestination(tmp_path).open("b.tar.gz", "1", force=False)
    assert (tmp_path / "b.tar.gz").read_bytes() == b"old"
    assert names(tmp_path) == ["b.tar.gz"]


def test_output_appearing_during_the_build_is_not_clobbered(tmp_path: Path) -> None:
    upload = write_bundle(tmp_path, "b.tar.gz", b"new")
    (tmp_path / "b.tar.gz").write_bytes(b"someone else's")
    with pytest.raises(BuildError, match="already exists"):
        upload.commit(b"")
    upload.discard()
    assert (tmp_path / "b.tar.gz").read_bytes() == b"someone else's"
    assert names(tmp_path) == ["b.tar.gz"]


def test_force_overwrites(tmp_path: Path) -> None:
    (tmp_path / "b.tar.gz").write_bytes(b"old")
    upload = write_bundle(tmp_path, "b.tar.gz", b"new", force=True)
    upload.commit(b"")
    assert (tmp_path / "b.tar.gz").read_bytes() == b"new"


def test_second_writer_of_the_same_output_fails_fast(tmp_path: Path) -> None:
    first = write_bundle(tmp_path, "b.tar.gz", b"x")
    with pytest.raises(BuildError, match="another build is writing"):
        LocalDestination(tmp_path).open("b.tar.gz", "8", force=False)
    first.discard()
    second = write_bundle(tmp_path, "b.tar.gz", b"y")  # free again once the first is gone
    second.commit(b"")
    assert (tmp_path / "b.tar.gz").read_bytes() == b"y"


def test_discard_leaves_nothing_behind(tmp_path: Path) -> None:
    upload = write_bundle(tmp_path, "b.tar.gz", b"partial")
    upload.discard()
    upload.discard()  # idempotent
    assert list(tmp_path.iterdir()) == []


def test_output_directory_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(BuildError, match="cannot create output directory"):
        LocalDestination(tmp_path / "f").open("b.tar.gz", "1", force=False)


def test_disk_full_message_names_the_target(tmp_path: Path) -> None:
    message = describe_os_error(OSError(errno.ENOSPC, "No space"), tmp_path / "b.tar.gz")
    assert message == f"no space left on device while writing {tmp_path / 'b.tar.gz'}"


def test_a_write_error_names_the_bundle_not_its_temporary_name(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    upload = write_bundle(tmp_path, "b.tar.gz", b"")
    full = os.open("/dev/full", os.O_WRONLY)
    os.dup2(full, upload.file._file.fileno())  # the temporary file now fills up at once
    os.close(full)
    with pytest.raises(BuildError, match=f"^no space left on device while writing {tmp_path}/b"):
        upload.file.write(b"x" * 4096)
    upload.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_held_lock_is_not_swept(tmp_path: Path) -> None:
    (tmp_path / ".b.tar.gz.tmp-7").write_bytes(b"")
    lock = tmp_path / ".b.tar.gz.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert LocalDestination(tmp_path).sweep("7") == [str(tmp_path / ".b.tar.gz.tmp-7")]
        assert lock.exists()
    finally:
        os.close(fd)


def test_a_dead_jobs_lock_is_swept_with_its_files(tmp_path: Path) -> None:
    for name in (".b.tar.gz.tmp-7", ".b.tar.gz.tmp-7.sha256", ".b.tar.gz.lock"):
        (tmp_path / name).write_bytes(b"")
    assert sorted(LocalDestination(tmp_path).sweep("7")) == sorted(
        str(tmp_path / n) for n in (".b.tar.gz.tmp-7", ".b.tar.gz.tmp-7.sha256", ".b.tar.gz.lock")
    )
    assert list(tmp_path.iterdir()) == []
    assert LocalDestination(tmp_path / "missing").sweep("7") == []


NAME_CHARS = "abcXYZ019._-"


@given(
    job=st.integers(1, 10**6),
    others=st.lists(st.integers(1, 10**6), max_size=8),
    name=st.text(NAME_CHARS, min_size=1, max_size=20).map(lambda p: f"20240101000000_{p}.tar.gz"),
)
def test_sweep_removes_only_the_named_jobs_files(job: int, others: list[int], name: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        outdir = Path(d)
        mine = [outdir / f".{name}.tmp-{job}", outdir / f".{name}.tmp-{job}.sha256"]
        theirs = [outdir / f".{name}.tmp-{o}" for o in others if o != job]
        theirs += [outdir / name, outdir / f"{name}.tmp-{job}"]
        for path in mine + theirs:
            path.write_bytes(b"")
        assert sorted(LocalDestination(outdir).sweep(str(job))) == sorted(map(str, mine))
        assert all(p.exists() for p in theirs)


# Issue 9, item 1: nothing planted at a name osbundle creates is followed or truncated.


PLANTED = ["file", "dangling", "dir"]


@pytest.mark.parametrize("kind", PLANTED)
@pytest.mark.parametrize("suffix", ["", ".sha256"])
def test_a_name_planted_at_a_temporary_file_is_refused_and_not_followed(
    tmp_path: Path, kind: str, suffix: str
) -> None:
    outdir, outside = tmp_path / "out", tmp_path / "outside"
    outdir.mkdir()
    planted = outdir / f".b.tar.gz.tmp-7{suffix}"
    target = plant(kind, planted, outside)
    with pytest.raises(BuildError, match=r"already exists and was not created by this build"):
        LocalDestination(outdir).open("b.tar.gz", "7", force=False)
    assert_untouched(kind, target)
    assert names(outdir) == [planted.name]  # no temp file, no lock, nothing published
    assert planted.is_symlink()


@pytest.mark.parametrize("kind", [*PLANTED, "fifo"])
def test_a_planted_lock_is_refused_and_not_followed(tmp_path: Path, kind: str) -> None:
    outdir, outside = tmp_path / "out", tmp_path / "outside"
    outdir.mkdir()
    lock = outdir / ".b.tar.gz.lock"
    target = plant(kind, lock, outside)
    with pytest.raises(BuildError, match=r"\.b\.tar\.gz\.lock is not a regular file"):
        LocalDestination(outdir).open("b.tar.gz", "7", force=False)
    assert_untouched(kind, target)
    assert names(outdir) == [lock.name]
    assert not LocalDestination(outdir).sweep("7")  # nor does sweep open or remove it


def test_a_lock_left_as_a_regular_file_is_used(tmp_path: Path) -> None:
    (tmp_path / ".b.tar.gz.lock").write_bytes(b"")  # a dead build's lock: free to take
    write_bundle(tmp_path, "b.tar.gz", b"x").commit(b"")
    assert names(tmp_path) == ["b.tar.gz", "b.tar.gz.sha256"]


def test_the_checksum_is_published_as_a_file_of_its_own(tmp_path: Path) -> None:
    upload = write_bundle(tmp_path, "b.tar.gz", b"x")
    upload.commit(b"sum\n")
    checksum = tmp_path / "b.tar.gz.sha256"
    assert not checksum.is_symlink()
    assert checksum.read_bytes() == b"sum\n"
    assert os.stat(checksum).st_nlink == 1


# Issue 9, item 3: a `.sha256` without its bundle is an existing output too.


def test_an_existing_checksum_is_refused_up_front_without_force(tmp_path: Path) -> None:
    (tmp_path / "b.tar.gz.sha256").write_bytes(b"old sum")
    with pytest.raises(BuildError, match=r"b\.tar\.gz\.sha256 already exists \(use --force"):
        LocalDestination(tmp_path).open("b.tar.gz", "1", force=False)
    assert (tmp_path / "b.tar.gz.sha256").read_bytes() == b"old sum"
    assert names(tmp_path) == ["b.tar.gz.sha256"]


def test_a_checksum_appearing_during_the_build_is_not_clobbered(tmp_path: Path) -> None:
    upload = write_bundle(tmp_path, "b.tar.gz", b"new")
    (tmp_path / "b.tar.gz.sha256").write_bytes(b"someone else's")
    with pytest.raises(BuildError, match=r"b\.tar\.gz\.sha256 already exists \(use --force"):
        upload.commit(b"sum")
    upload.discard()
    assert (tmp_path / "b.tar.gz.sha256").read_bytes() == b"someone else's"
    assert names(tmp_path) == ["b.tar.gz.sha256"]  # and no bundle without its checksum


def test_force_overwrites_a_lone_checksum(tmp_path: Path) -> None:
    (tmp_path / "b.tar.gz.sha256").write_bytes(b"old sum")
    write_bundle(tmp_path, "b.tar.gz", b"new", force=True).commit(b"new sum")
    assert (tmp_path / "b.tar.gz.sha256").read_bytes() == b"new sum"


# Issue 9, item 2: a failed commit leaves nothing at the final paths.


def failing_at(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Make the commit fail at `step`: publishing the checksum, the bundle, or the dir fsync."""
    if step == "fsync_dir":

        def fsync_dir(path: Path) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(local, "fsync_dir", fsync_dir)
        return
    publish = local.publish

    def failing_publish(temp: Path, final: Path, *, force: bool) -> None:
        if final.name.endswith(step):
            raise OSError(errno.EIO, "Input/output error")
        publish(temp, final, force=force)

    monkeypatch.setattr(local, "publish", failing_publish)


@pytest.mark.parametrize("step", [".sha256", ".gz", "fsync_dir"])
@pytest.mark.parametrize("force", [False, True])
def test_a_commit_failing_after_publishing_unpublishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, force: bool
) -> None:
    upload = write_bundle(tmp_path, "b.tar.gz", b"new", force=force)
    failing_at(monkeypatch, step)
    with pytest.raises(BuildError, match=r"^cannot write .*b\.tar\.gz: Input/output error$"):
        upload.commit(b"sum")
    upload.discard()
    assert names(tmp_path) == []


def test_a_forced_commit_that_fails_leaves_neither_the_old_nor_the_new_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "b.tar.gz").write_bytes(b"old")
    (tmp_path / "b.tar.gz.sha256").write_bytes(b"old sum")
    upload = write_bundle(tmp_path, "b.tar.gz", b"new", force=True)
    failing_at(monkeypatch, "fsync_dir")
    with pytest.raises(BuildError):
        upload.commit(b"new sum")
    upload.discard()
    assert names(tmp_path) == []  # documented: the rename already replaced the old one


def test_unpublish_leaves_a_name_someone_else_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload = write_bundle(tmp_path, "b.tar.gz", b"new")

    def replaced_then_failing(path: Path) -> None:
        (tmp_path / "other").write_bytes(b"theirs")
        os.replace(tmp_path / "other", tmp_path / "b.tar.gz")
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(local, "fsync_dir", replaced_then_failing)
    with pytest.raises(BuildError):
        upload.commit(b"sum")
    assert names(tmp_path) == ["b.tar.gz"]
    assert (tmp_path / "b.tar.gz").read_bytes() == b"theirs"


@given(
    force=st.booleans(),
    existing=st.sampled_from(["", "b.tar.gz", "b.tar.gz.sha256", "both"]),
    failing=st.sampled_from(["", ".sha256", ".gz", "fsync_dir"]),
)
def test_a_final_path_holds_this_build_s_files_only_if_its_commit_succeeded(
    force: bool, existing: str, failing: str
) -> None:
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as patch:
        outdir = Path(d)
        old = {"b.tar.gz": b"old", "b.tar.gz.sha256": b"old sum"}
        for name in old if existing == "both" else [existing] if existing else []:
            (outdir / name).write_bytes(old[name])
        before = {p.name: p.read_bytes() for p in outdir.iterdir()}
        try:
            upload = write_bundle(outdir, "b.tar.gz", b"new", force=force)
        except BuildError:
            assert not force
            assert before
            assert {p.name: p.read_bytes() for p in outdir.iterdir()} == before
            return
        if failing:
            failing_at(patch, failing)
        try:
            upload.commit(b"new sum")
        except BuildError:
            upload.discard()
            after = {p.name: p.read_bytes() for p in outdir.iterdir()}
            assert b"new" not in after.values()
            assert b"new sum" not in after.values()
            assert set(after) <= set(before)  # nothing of its own, not even a temporary file
        else:
            assert not failing
            assert names(outdir) == ["b.tar.gz", "b.tar.gz.sha256"]
            assert (outdir / "b.tar.gz").read_bytes() == b"new"
            assert (outdir / "b.tar.gz.sha256").read_bytes() == b"new sum"
