"""The state directory and its files (issue 9, item 1): created private, and nothing planted at
their names is followed, truncated or created through."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from osbundle.errors import JobError
from osbundle.jobs import worker
from osbundle.jobs.sqlite import DB_NAME, open_sqlite_store
from osbundle.jobs.statedir import open_log, prepare_state_dir
from osbundle.model import BuildRequest
from tests.jobs_fakes import FAKE_TARGET, FakeSpec, write_fake_profile
from tests.planted import assert_untouched, plant


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_new_state_directory_is_private(tmp_path: Path) -> None:
    open_sqlite_store(tmp_path / "a" / "state").close()
    assert mode(tmp_path / "a" / "state") == 0o700
    assert mode(tmp_path / "a" / "state" / DB_NAME) == 0o600


def test_an_older_looser_state_directory_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    open_sqlite_store(state).close()
    assert mode(state) == 0o700


@pytest.mark.parametrize("kind", ["dir", "dangling"])
def test_a_state_directory_that_is_a_link_is_refused(tmp_path: Path, kind: str) -> None:
    state = tmp_path / "state"
    target = plant(kind, state, tmp_path / "outside")
    with pytest.raises(JobError, match=r"^state directory .*state is a symbolic link; refusing"):
        open_sqlite_store(state)
    assert_untouched(kind, target)


def test_a_state_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").write_bytes(b"x")
    with pytest.raises(JobError, match=r"^state directory .*state is not a directory$"):
        prepare_state_dir(tmp_path / "state")
    assert (tmp_path / "state").read_bytes() == b"x"


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory away needs root")
def test_a_state_directory_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, os.geteuid() + 4242, -1)
    with pytest.raises(JobError, match=r"is not owned by this user; refusing it$"):
        open_sqlite_store(state)
    assert list(state.iterdir()) == []


@pytest.mark.parametrize("kind", ["file", "dangling", "dir", "fifo"])
@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_a_planted_database_file_is_refused(tmp_path: Path, kind: str, suffix: str) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    planted = state / (DB_NAME + suffix)
    target = plant(kind, planted, tmp_path / "outside")
    with pytest.raises(JobError, match=rf"^job store file .*{DB_NAME}{suffix} is not a regular"):
        open_sqlite_store(state)
    assert_untouched(kind, target)
    assert sorted(p.name for p in state.iterdir()) == [planted.name]  # no database made


@pytest.mark.parametrize("kind", ["file", "dangling", "dir", "fifo"])
def test_a_planted_worker_log_is_refused(tmp_path: Path, kind: str) -> None:
    log = tmp_path / "logs" / "7.log"
    log.parent.mkdir()
    target = plant(kind, log, tmp_path / "outside")
    with pytest.raises(JobError, match=r"^worker log .*7\.log is not a regular file; refusing"):
        open_log(log)
    assert_untouched(kind, target)


def test_a_planted_logs_directory_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "7.log"
    target = plant("dir", log.parent, tmp_path / "outside")
    with pytest.raises(JobError, match=r"is not a regular file; refusing"):
        open_log(log)
    assert_untouched("dir", target)


def test_a_worker_log_is_appended_to_and_private(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "7.log"
    for text in (b"one\n", b"two\n"):
        fd = open_log(log)
        os.write(fd, text)
        os.close(fd)
    assert log.read_bytes() == b"one\ntwo\n"
    assert mode(log) == 0o600
    assert mode(log.parent) == 0o700


def test_a_background_job_whose_log_is_planted_fails_cleanly(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    with open_sqlite_store(tmp_path / "state") as store:
        (tmp_path / "state" / "logs").mkdir()
        target = plant("file", store.log_path("1"), outside)
        profile = write_fake_profile(tmp_path / "p", FakeSpec())
        request = BuildRequest(profile_dir=profile, outdir=tmp_path / "out")
        with pytest.raises(JobError, match=r"^worker log .* is not a regular file"):
            worker.start_background(store, request, build=FAKE_TARGET)
        job = store.get_one("1")
    assert job.status == "Stopped_With_Error"
    assert_untouched("file", target)
