"""Sources changed between collection and the stages that read them (issue #9, items 5 and 6).

Each case builds a real profile and changes its tree at the seam after `collect` (before the
archive stage, the render stage or plan's digests). Whatever the change, the bundle holds the
collected files or the build fails naming the source; it never holds another file, and a failed
build leaves nothing at a final path. Only public entry points are used, so the same tests run
against older code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from osbundle import pipeline, plan
from osbundle.errors import BuildError
from osbundle.model import BuildRequest, BuildResult
from osbundle.pipeline import build_bundle
from osbundle.profile import spill
from osbundle.stages import archive as archive_stage
from osbundle.stages import render as render_stage
from osbundle.tarstream import readers, sourcefile
from osbundle.tarstream.readers import ReaderPool
from tests.factory import make_profile

EPOCH = 1700000000
PASSWD = Path("/etc/passwd")
CHANGED = "changed since the profile was collected; rebuild"


def same_stat(path: Path, like: Path) -> None:
    """Give `path` the atime and mtime of `like` (its size is the caller's business)."""
    st = like.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def passwd_twin(root: Path) -> Path:
    """A profile shipping `extras/`, whose extras/sub/passwd is a copy of /etc/passwd with its
    mtime: the same size and mtime, so only identity can tell the two apart."""
    twin = root / "extras" / "sub" / "passwd"
    twin.parent.mkdir(parents=True)
    shutil.copyfile(PASSWD, twin)
    same_stat(twin, PASSWD)
    (root / "extras" / "other").mkdir()
    return make_profile(root, {}, lists={"files": [{"source": "extras"}]})


def before(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, change: Callable[[], None]
) -> None:
    """Run `change` just before `module.name` is called (the seam after collection)."""
    real = getattr(module, name)

    def changed_first(*args: Any, **kwargs: Any) -> Any:
        change()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, changed_first)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Reader processes for any payload (one batch is enough); the pid of each one forked."""
    monkeypatch.setattr(readers, "MIN_BATCHES", 1)
    pids: list[int] = []
    fork = ReaderPool._fork

    def recording(self: ReaderPool, *args: Any) -> None:
        fork(self, *args)
        pids.append(self._pids[-1])

    monkeypatch.setattr(ReaderPool, "_fork", recording)
    return pids


def build(profile: Path, out: Path, threads: int) -> BuildResult:
    request = BuildRequest(profile, out, source_date_epoch=EPOCH, threads=threads)
    return build_bundle(request)


def assert_nothing_published(out: Path) -> None:
    """No bundle, no checksum, no temporary file or lock left in the output directory."""
    assert not out.exists() or not list(out.iterdir())


# --- the archive stage: in-process reads (1 thread) and reader processes (2) ---------------


@pytest.mark.parametrize("threads", [1, 2])
def test_a_directory_swapped_for_a_link_to_etc_never_ships_etc_passwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int], threads: int
) -> None:
    profile = passwd_twin(tmp_path / "p")
    sub = profile / "extras" / "sub"

    def swap() -> None:
        sub.rename(profile / "extras" / "moved")
        sub.symlink_to("/etc")

    before(monkeypatch, archive_stage, "archive", swap)
    with pytest.raises(BuildError, match=rf"extras/sub/passwd: {CHANGED}$"):
        build(profile, tmp_path / "out", threads)
    assert_nothing_published(tmp_path / "out")
    assert bool(forks) == (threads > 1)  # the reader-process path was the one taken


@pytest.mark.parametrize("threads", [1, 2])
def test_a_directory_swapped_for_a_link_inside_the_profile_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int], threads: int
) -> None:
    """Refused, not followed: the collected real path no longer holds a directory, and the
    readers follow no link on it, so no byte but the collected file's can be read (a link
    inside the profile is followed when the profile is collected, not afterwards)."""
    profile = passwd_twin(tmp_path / "p")
    sub, other = profile / "extras" / "sub", profile / "extras" / "other"
    shutil.copyfile(PASSWD, other / "passwd")
    same_stat(other / "passwd", PASSWD)

    def swap() -> None:
        sub.rename(profile / "extras" / "moved")
        sub.symlink_to("other")

    before(monkeypatch, archive_stage, "archive", swap)
    with pytest.raises(BuildError, match=rf"extras/sub/passwd: {CHANGED}$"):
        build(profile, tmp_path / "out", threads)
    assert bool(forks) == (threads > 1)


@pytest.mark.parametrize("threads", [1, 2])
def test_a_same_size_same_mtime_rename_over_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int], threads: int
) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"original"})

    def rename_over() -> None:
        (profile / "new").write_bytes(b"replaced")
        same_stat(profile / "new", profile / "a.txt")
        os.replace(profile / "new", profile / "a.txt")

    before(monkeypatch, archive_stage, "archive", rename_over)
    with pytest.raises(BuildError, match=rf"a\.txt: {CHANGED}$"):
        build(profile, tmp_path / "out", threads)
    assert_nothing_published(tmp_path / "out")
    assert bool(forks) == (threads > 1)


# --- the render stage and plan's digests ----------------------------------------------------

KS = "lang #predefined.os.release#\n"


def kickstart_profile(root: Path) -> Path:
    """A RHEL profile whose unattend file, unattend/ks/ks.cfg, is rendered."""
    lists: dict[str, list[object]] = {"unattend": [{"source": "unattend/ks/ks.cfg", "name": "ks"}]}
    install = {"unattend": "ks"}
    return make_profile(root, {"unattend/ks/ks.cfg": KS.encode()}, lists=lists, install=install)


def swap_for_outside_twin(profile: Path) -> Callable[[], None]:
    """unattend/ks replaced by a link to a folder outside with a same-size, same-mtime ks.cfg."""

    def swap() -> None:
        outside = profile.parent / "outside"
        outside.mkdir()
        evil = KS.replace("lang", "%pre").encode()
        assert len(evil) == len(KS)
        (outside / "ks.cfg").write_bytes(evil)
        same_stat(outside / "ks.cfg", profile / "unattend" / "ks" / "ks.cfg")
        (profile / "unattend" / "ks").rename(profile / "moved")
        (profile / "unattend" / "ks").symlink_to(outside)

    return swap


def test_the_render_stage_reads_only_the_collected_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = kickstart_profile(tmp_path / "p")
    before(monkeypatch, render_stage, "render", swap_for_outside_twin(profile))
    result = build(profile, tmp_path / "out", 1)
    # The folder was opened (and its descriptor kept) by validate's macro check: the render
    # stage then reads through it the collected file, never the one now behind the link.
    with tarfile.open(result.path) as tar:
        member = tar.extractfile("test-profile/unattend/ks.cfg")
        assert member is not None
        assert member.read().startswith(b"lang ")


def test_the_render_stage_refuses_a_swapped_folder_it_has_not_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = kickstart_profile(tmp_path / "p")
    swap = swap_for_outside_twin(profile)

    def cold_swap() -> None:
        forget = getattr(sourcefile, "forget_folders", None)
        if forget is not None:  # a fresh process: no folder open yet
            forget()
        swap()

    before(monkeypatch, render_stage, "render_list", cold_swap)
    with pytest.raises(BuildError, match=rf"unattend/ks/ks\.cfg: {CHANGED}$"):
        build(profile, tmp_path / "out", 1)
    assert_nothing_published(tmp_path / "out")


def test_plan_digests_refuse_a_swapped_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = passwd_twin(tmp_path / "p")
    sub = profile / "extras" / "sub"
    real_prepare = pipeline.prepare

    @contextlib.contextmanager
    def prepare_then_swap(profile_dir: Path) -> Iterator[Any]:
        with real_prepare(profile_dir) as prepared:
            sub.rename(profile / "extras" / "moved")
            sub.symlink_to("/etc")
            yield prepared

    monkeypatch.setattr("osbundle.plan.prepare", prepare_then_swap)
    with pytest.raises(BuildError, match=rf"extras/sub/passwd: {CHANGED}$"):
        plan.plan_bundle(profile)


def test_a_spilled_member_list_is_read_by_the_reader_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    """A profile too large to hold (its lists in spill files: RUN_ITEMS lowered to 7) builds
    the same bytes as when held, with the reader processes reading the list from the file."""
    files = {f"d{n // 40}/f{n:03d}.txt": f"file {n}\n".encode() * (n % 5) for n in range(300)}
    profile = make_profile(tmp_path / "p", files)
    held = build(profile, tmp_path / "held", 2)
    assert forks, "the reader processes took the batches"
    forks.clear()
    opened: list[int] = []
    real_init = spill.RecordFile.__init__

    def counted(self: spill.RecordFile[Any], *args: Any) -> None:
        real_init(self, *args)
        opened.append(1)

    monkeypatch.setattr(spill, "RUN_ITEMS", 7)
    monkeypatch.setattr(spill.RecordFile, "__init__", counted)
    spilled = build(profile, tmp_path / "spilled", 2)
    assert opened, "the lists were spilled"
    assert forks, "the readers read them"
    assert (spilled.sha256, spilled.members) == (held.sha256, held.members)
    assert (tmp_path / "held" / held.filename).read_bytes() == (
        tmp_path / "spilled" / spilled.filename
    ).read_bytes()
