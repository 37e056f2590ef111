"""Running builds as jobs: in this process (run_job) and in detached worker processes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from osbundle.errors import BuildError, Cancelled, JobError
from osbundle.interrupts import install_signal_handlers, restore_signal_handlers
from osbundle.jobs import procid, worker
from osbundle.jobs.record import Job
from osbundle.jobs.store import JobStore, open_store
from osbundle.jobs.worker import run_job
from osbundle.model import BuildRequest, BuildResult
from osbundle.observer import BuildObserver, NullObserver
from osbundle.service import Service
from tests.factory import make_profile
from tests.jobs_fakes import FAKE_TARGET, FakeSpec, fake_build, release, write_fake_profile


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    with open_store(tmp_path / "state") as s:
        yield s


@pytest.fixture
def guard_cleanup() -> Iterator[None]:
    yield
    restore_signal_handlers()


def fake_request(tmp_path: Path, spec: FakeSpec, name: str = "p") -> BuildRequest:
    return BuildRequest(write_fake_profile(tmp_path / name, spec), tmp_path / "out")


def wait_for(store: JobStore, job_id: str, ok: Callable[[Job], bool], timeout: float = 30.0) -> Job:
    """The job once `ok` holds (reaping as a reader would); the timeout only bounds a test
    that fails."""
    deadline = time.monotonic() + timeout
    while True:
        store.reap()
        job = store.get_one(job_id)
        if ok(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def leftovers(outdir: Path) -> list[str]:
    return sorted(p.name for p in outdir.iterdir()) if outdir.exists() else []


def test_successful_build_is_recorded_complete(store: JobStore, tmp_path: Path) -> None:
    req = fake_request(tmp_path, FakeSpec(files=3))
    result = run_job(store, req, build=fake_build)
    job = store.get_one(result.job_id)
    assert job.status == "Complete"
    assert job.percentage == 100
    assert job.result is not None
    assert job.result["filename"] == result.filename
    assert job.result["jobID"] == job.job_id
    assert job.result["result"] == "success"
    assert job.output == result.path
    assert (job.bytes_done, job.files_done) == (3 * 1024, 3)
    assert leftovers(tmp_path / "out") == [result.filename]


def test_failed_build_is_recorded_and_reraised(store: JobStore, tmp_path: Path) -> None:
    req = fake_request(tmp_path, FakeSpec(fail="disk full", leave_temp=True))
    with pytest.raises(BuildError, match="disk full") as info:
        run_job(store, req, build=fake_build)
    job = store.list_jobs()[-1]
    assert info.value.job_id == job.job_id
    assert job.status == "Stopped_With_Error"
    assert job.messages == ("disk full",)
    assert job.result == {"filename": "", "jobID": job.job_id, "result": "failed",
                          "messages": ["disk full"], "path": "", "sha256": "", "tarSha256": "",
                          "size": 0, "members": 0, "seconds": 0.0, "compressor": ""}  # fmt: skip
    assert leftovers(tmp_path / "out") == []  # the temp file the build left is swept


def test_unexpected_exception_is_stopped_with_error(store: JobStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="boom"):
        run_job(store, fake_request(tmp_path, FakeSpec(crash=True)), build=fake_build)
    job = store.list_jobs()[-1]
    assert job.status == "Stopped_With_Error"
    assert job.messages == ("internal error: ValueError: boom",)


def test_running_out_of_memory_is_recorded_as_such(store: JobStore, tmp_path: Path) -> None:
    def exhausted(request: BuildRequest, observer: BuildObserver, job_id: str) -> BuildResult:
        raise MemoryError

    with pytest.raises(MemoryError):
        run_job(store, fake_request(tmp_path, FakeSpec()), build=exhausted)
    job = store.list_jobs()[-1]
    assert job.status == "Stopped_With_Error"
    assert job.messages == ("out of memory while building",)


class CancelWhenArchiving(NullObserver):
    """Asks for the job to be cancelled, from another connection, once bytes flow."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.asked = False

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        if not self.asked:
            self.asked = True
            with open_store(self.state_dir) as other:
                other.request_cancel(other.list_jobs()[-1].job_id)


def test_a_cancel_request_stops_a_foreground_build(store: JobStore, tmp_path: Path) -> None:
    req = fake_request(tmp_path, FakeSpec(files=3, hold_at=1))  # holds until cancelled
    canceller = CancelWhenArchiving(store.state_dir)
    with pytest.raises(Cancelled):
        run_job(store, req, build=fake_build, observers=[canceller], interval=0)
    assert canceller.asked
    job = store.get_one("1")
    assert job.status == "Cancelled"
    assert job.messages == ("cancelled by `osbundle tasks cancel`",)
    assert job.files_done == 1  # stopped where it was held, not after the last file
    assert leftovers(tmp_path / "out") == []


class SignalOnProgress(NullObserver):
    def __init__(self, sig: signal.Signals) -> None:
        self.sig = sig

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        os.kill(os.getpid(), self.sig)


def test_a_stop_signal_cancels_the_job(
    store: JobStore, tmp_path: Path, guard_cleanup: None
) -> None:
    install_signal_handlers()  # as the CLI does
    req = fake_request(tmp_path, FakeSpec(files=3, hold_at=1))
    with pytest.raises(Cancelled, match="SIGTERM"):
        run_job(store, req, build=fake_build, observers=[SignalOnProgress(signal.SIGTERM)])
    job = store.list_jobs()[-1]
    assert job.status == "Cancelled"
    assert job.messages == ("interrupted by SIGTERM",)
    assert leftovers(tmp_path / "out") == []


def test_run_job_refuses_a_job_that_is_not_pending(store: JobStore, tmp_path: Path) -> None:
    req = fake_request(tmp_path, FakeSpec())
    jid = store.create(req, owner=procid.current(), status="Pending")
    store.request_cancel(jid)
    with pytest.raises(JobError, match="Cancelled, not Pending"):
        run_job(store, req, build=fake_build, job_id=jid)


def test_unloadable_build_target_fails_the_job(store: JobStore, tmp_path: Path) -> None:
    req = fake_request(tmp_path, FakeSpec())
    jid = store.create(req, owner=procid.current(), status="Pending")
    with pytest.raises(JobError, match="cannot load the build function nowhere:nothing"):
        worker.run_pending(store, jid, "nowhere:nothing")
    job = store.get_one(jid)
    assert job.status == "Stopped_With_Error"
    assert job.result is not None
    assert job.result["result"] == "failed"


def test_a_cancelled_pending_job_is_not_run(store: JobStore, tmp_path: Path) -> None:
    req = fake_request(tmp_path, FakeSpec())
    jid = store.create(req, owner=procid.current(), status="Pending")
    store.request_cancel(jid)
    worker.run_pending(store, jid, FAKE_TARGET)
    assert store.get_one(jid).status == "Cancelled"
    assert leftovers(tmp_path / "out") == []


def test_the_stored_record_names_no_code(store: JobStore, tmp_path: Path) -> None:
    jid = worker.start_background(store, fake_request(tmp_path, FakeSpec()), build=FAKE_TARGET)
    job = wait_for(store, jid, lambda j: not j.active)
    assert job.status == "Complete", job.messages
    assert FAKE_TARGET not in repr(job)
    assert FAKE_TARGET.encode() not in (store.state_dir / "jobs.sqlite3").read_bytes()


# -- background workers -----------------------------------------------------------------


def start(store: JobStore, tmp_path: Path, spec: FakeSpec, name: str = "p") -> str:
    return worker.start_background(store, fake_request(tmp_path, spec, name), build=FAKE_TARGET)


def test_background_build_returns_at_once_and_completes(store: JobStore, tmp_path: Path) -> None:
    jid = start(store, tmp_path, FakeSpec(files=20, hold_at=10))
    job = store.get_one(jid)  # returned while the build cannot be done: it holds until released
    assert job.background
    assert job.status in ("Pending", "Running")
    assert os.getsid(job.owner.pid) != os.getsid(0)  # its own session: survives the terminal
    held = wait_for(store, jid, lambda j: j.files_done == 10)
    assert held.status == "Running"
    assert 10 < held.percentage < 95
    release(tmp_path / "p")
    done = wait_for(store, jid, lambda j: not j.active)
    assert done.status == "Complete", done.messages
    assert done.percentage == 100
    assert leftovers(tmp_path / "out") == ["19800101000000_fake.tar.gz"]


def test_sigkilled_worker_is_interrupted_and_its_files_are_left_to_sweep(
    store: JobStore, tmp_path: Path
) -> None:
    jid = start(store, tmp_path, FakeSpec(files=4, hold_at=1))
    job = wait_for(store, jid, lambda j: j.files_done == 1)
    assert leftovers(tmp_path / "out") == [f".19800101000000_fake.tar.gz.tmp-{jid}"]
    os.kill(job.owner.pid, signal.SIGKILL)
    job = wait_for(store, jid, lambda j: not j.active)
    assert job.status == "Interrupted"  # the service sweeps its files (tests/test_service.py)


@pytest.mark.parametrize("how", ["sigterm", "cancel"])
def test_stopped_worker_leaves_no_partial_file(store: JobStore, tmp_path: Path, how: str) -> None:
    jid = start(store, tmp_path, FakeSpec(files=4, hold_at=1))  # never released
    job = wait_for(store, jid, lambda j: j.files_done == 1)
    if how == "sigterm":
        os.kill(job.owner.pid, signal.SIGTERM)
    else:
        store.request_cancel(jid)
    job = wait_for(store, jid, lambda j: not j.active)
    assert job.status == "Cancelled"
    assert leftovers(tmp_path / "out") == []
    if how == "sigterm":
        assert job.messages == ("interrupted by SIGTERM",)  # a real SIGTERM keeps its name
    else:
        assert job.messages == ("cancelled by `osbundle tasks cancel`",)


def test_tasks_cancel_is_recorded_as_a_cancel_not_as_its_sigterm(
    store: JobStore, tmp_path: Path
) -> None:
    jid = start(store, tmp_path, FakeSpec(files=4, hold_at=1))  # never released: blocked
    wait_for(store, jid, lambda j: j.files_done == 1)
    Service(store, build=FAKE_TARGET).cancel(jid)  # the flag, then SIGTERM to the worker
    job = wait_for(store, jid, lambda j: not j.active)
    assert job.status == "Cancelled"
    assert job.messages == ("cancelled by `osbundle tasks cancel`",)
    assert leftovers(tmp_path / "out") == []


def test_two_background_builds_to_different_outputs(store: JobStore, tmp_path: Path) -> None:
    first = start(store, tmp_path, FakeSpec(files=10, name="one"), "a")
    second = start(store, tmp_path, FakeSpec(files=10, name="two"), "b")
    jobs = [wait_for(store, j, lambda j: not j.active) for j in (first, second)]
    assert [j.status for j in jobs] == ["Complete", "Complete"]
    assert leftovers(tmp_path / "out") == [
        "19800101000000_one.tar.gz",
        "19800101000000_two.tar.gz",
    ]


# -- with the real pipeline -------------------------------------------------------------


def real_request(tmp_path: Path, name: str = "p") -> BuildRequest:
    files = {"a.txt": b"alpha\n" * 1000, "dir/b.bin": os.urandom(300_000)}
    profile = make_profile(tmp_path / name, files, name="jobs-test")
    return BuildRequest(profile, tmp_path / "out", source_date_epoch=1700000000)


def test_real_pipeline_build_is_a_complete_job(store: JobStore, tmp_path: Path) -> None:
    req = real_request(tmp_path)
    result = run_job(store, req)
    assert result.result == "success"
    job = store.get_one(result.job_id)
    assert job.status == "Complete"
    assert job.percentage == 100
    assert job.result is not None
    assert job.result["filename"] == result.filename
    assert job.files_total == 2
    assert job.files_done == 2
    assert (tmp_path / "out" / result.filename).is_file()


def test_real_pipeline_same_output_twice_one_fails_clearly(store: JobStore, tmp_path: Path) -> None:
    req = real_request(tmp_path)
    jobs = [worker.start_background(store, req) for _ in range(2)]
    ended = [wait_for(store, j, lambda j: not j.active) for j in jobs]
    assert sorted(j.status for j in ended) == ["Complete", "Stopped_With_Error"]
    failed = next(j for j in ended if j.status == "Stopped_With_Error")
    assert "20231114221320_jobs-test.tar.gz" in failed.messages[-1]
    assert leftovers(tmp_path / "out") == [
        "20231114221320_jobs-test.tar.gz",
        "20231114221320_jobs-test.tar.gz.sha256",
    ]


# Issue 9, item 2: a failed job leaves nothing at the final path.


@pytest.mark.parametrize("force", [False, True])
def test_a_failed_directory_fsync_after_publishing_fails_the_job_and_leaves_nothing(
    store: JobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    from osbundle.destinations import local

    profile = make_profile(tmp_path / "p", {"a.txt": b"a"})
    request = BuildRequest(profile_dir=profile, outdir=tmp_path / "out", force=force)

    def failing_fsync_dir(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(local, "fsync_dir", failing_fsync_dir)
    with pytest.raises(BuildError, match=r"^cannot write .*\.tar\.gz: Input/output error$"):
        run_job(store, request)
    [job] = store.list_jobs()
    assert job.status == "Stopped_With_Error"
    assert leftovers(tmp_path / "out") == []
