from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from osbundle.errors import BuildError, Cancelled, JobError
from osbundle.jobs import procid, worker
from osbundle.jobs.sqlite import Job, JobStore, open_store
from osbundle.jobs.worker import install_signal_handlers, restore_signal_handlers, run_job
from osbundle.model import BuildRequest
from tests.factory import make_profile
from tests.jobs_fakes import FAKE_TARGET, FakeSpec, fake_build, write_fake_profile


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
    deadline = time.monotonic() + timeout
    while True:
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
    with pytest.raises(BuildError, match="disk full"):
        run_job(store, req, build=fake_build)
    job = store.list_jobs()[-1]
    assert job.status == "Stopped_With_Error"
    assert job.messages == ("disk full",)
    assert job.result == {"filename": "", "jobID": job.job_id, "result": "failed",
                          "messages": ["disk full"]}  # fmt: skip
    assert leftovers(tmp_path / "out") == []  # the temp file the build left is swept


def test_unexpected_exception_is_stopped_with_error(store: JobStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="boom"):
        run_job(store, fake_request(tmp_path, FakeSpec(crash=True)), build=fake_build)
    job = store.list_jobs()[-1]
    assert job.status == "Stopped_With_Error"
    assert job.messages == ("internal error: ValueError: boom",)


def test_tasks_cancel_stops_a_foreground_build(
    store: JobStore, tmp_path: Path, guard_cleanup: None
) -> None:
    install_signal_handlers()  # as the CLI does: cancel signals the job's owner, this process
    req = fake_request(tmp_path, FakeSpec(files=200, sleep=0.02))

    def cancel_when_archiving() -> None:
        with open_store(store.state_dir) as other:
            while not other.list_jobs():  # run_job has not created the job yet
                time.sleep(0.01)
            job = wait_for(other, "1", lambda j: j.stage == "archive")
            other.request_cancel(job.job_id)

    canceller = threading.Thread(target=cancel_when_archiving)
    canceller.start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run_job(store, req, build=fake_build)
    canceller.join()
    assert time.monotonic() - started < 3.0
    assert store.get_one("1").status == "Cancelled"
    assert leftovers(tmp_path / "out") == []


def test_signal_guard_turns_sigterm_into_cancelled(
    store: JobStore, tmp_path: Path, guard_cleanup: None
) -> None:
    install_signal_handlers()
    req = fake_request(tmp_path, FakeSpec(files=200, sleep=0.02))
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    with pytest.raises(Cancelled, match="SIGTERM"):
        run_job(store, req, build=fake_build)
    timer.join()
    job = store.list_jobs()[-1]
    assert job.status == "Cancelled"
    assert job.messages == ("interrupted by SIGTERM",)
    assert leftovers(tmp_path / "out") == []


def test_signal_guard_raises_once_and_defers_inside_shield(guard_cleanup: None) -> None:
    before = signal.getsignal(signal.SIGUSR1)
    guard = install_signal_handlers((signal.SIGUSR1,))
    with guard.shield():
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.01)
    assert guard.should_stop()  # recorded, not raised: the build stops at its next check
    os.kill(os.getpid(), signal.SIGUSR1)  # later signals never interrupt the cleanup
    time.sleep(0.01)
    restore_signal_handlers()
    assert signal.getsignal(signal.SIGUSR1) == before

    install_signal_handlers((signal.SIGUSR1,))
    with pytest.raises(Cancelled, match="SIGUSR1"):
        signal.raise_signal(signal.SIGUSR1)


def test_run_job_refuses_a_job_that_is_not_pending(store: JobStore, tmp_path: Path) -> None:
    req = fake_request(tmp_path, FakeSpec())
    jid = store.create(req, owner=procid.current(), status="Pending")
    store.request_cancel(jid)
    with pytest.raises(JobError, match="Cancelled, not Pending"):
        run_job(store, req, build=fake_build, job_id=jid)


def test_unloadable_build_target_fails_the_job(store: JobStore, tmp_path: Path) -> None:
    req = fake_request(tmp_path, FakeSpec())
    jid = store.create(req, owner=procid.current(), status="Pending", build="nowhere:nothing")
    with pytest.raises(JobError, match="cannot load the build function nowhere:nothing"):
        worker.run_pending(store, jid)
    assert store.get_one(jid).status == "Stopped_With_Error"


# -- background workers -----------------------------------------------------------------


def start(tmp_path: Path, spec: FakeSpec, name: str = "p") -> str:
    return worker.start_background(
        fake_request(tmp_path, spec, name), tmp_path / "state", build=FAKE_TARGET
    )


def test_background_build_returns_at_once_and_completes(store: JobStore, tmp_path: Path) -> None:
    began = time.monotonic()
    jid = start(tmp_path, FakeSpec(files=20, sleep=0.05))
    assert time.monotonic() - began < 1.0
    job = store.get_one(jid)
    assert job.background
    assert job.status in ("Pending", "Running")
    assert os.getsid(job.owner.pid) != os.getsid(0)  # its own session: survives the terminal
    running = wait_for(store, jid, lambda j: 10 < j.percentage < 95)
    assert running.status == "Running"
    done = wait_for(store, jid, lambda j: not j.active)
    assert done.status == "Complete", done.messages
    assert done.percentage == 100
    assert leftovers(tmp_path / "out") == ["19800101000000_fake.tar.gz"]


def test_sigkilled_worker_is_interrupted_and_swept(store: JobStore, tmp_path: Path) -> None:
    jid = start(tmp_path, FakeSpec(files=400, sleep=0.05))
    job = wait_for(store, jid, lambda j: j.stage == "archive" and j.bytes_done > 0)
    assert leftovers(tmp_path / "out") == [f".19800101000000_fake.tar.gz.tmp-{jid}"]
    os.kill(job.owner.pid, signal.SIGKILL)
    job = wait_for(store, jid, lambda j: not j.active, timeout=10)
    assert job.status == "Interrupted"
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("how", ["sigterm", "cancel"])
def test_stopped_worker_leaves_no_partial_file(store: JobStore, tmp_path: Path, how: str) -> None:
    jid = start(tmp_path, FakeSpec(files=400, sleep=0.05))
    job = wait_for(store, jid, lambda j: j.stage == "archive" and j.bytes_done > 0)
    asked = time.monotonic()
    if how == "sigterm":
        os.kill(job.owner.pid, signal.SIGTERM)
    else:
        store.request_cancel(jid)
    job = wait_for(store, jid, lambda j: not j.active, timeout=10)
    assert time.monotonic() - asked < 2.0
    assert job.status == "Cancelled"
    assert leftovers(tmp_path / "out") == []


def test_two_background_builds_to_different_outputs(store: JobStore, tmp_path: Path) -> None:
    first = start(tmp_path, FakeSpec(files=10, sleep=0.05, name="one"), "a")
    second = start(tmp_path, FakeSpec(files=10, sleep=0.05, name="two"), "b")
    jobs = [wait_for(store, j, lambda j: not j.active) for j in (first, second)]
    assert [j.status for j in jobs] == ["Complete", "Complete"]
    assert leftovers(tmp_path / "out") == [
        "19800101000000_one.tar.gz",
        "19800101000000_two.tar.gz",
    ]


# -- with the real pipeline -------------------------------------------------------------


def real_request(tmp_path: Path, name: str = "p") -> BuildRequest:
    pytest.importorskip("osbundle.pipeline", reason="osbundle.pipeline is not importable yet")
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
    jobs = [worker.start_background(req, store.state_dir) for _ in range(2)]
    ended = [wait_for(store, j, lambda j: not j.active) for j in jobs]
    assert sorted(j.status for j in ended) == ["Complete", "Stopped_With_Error"]
    failed = next(j for j in ended if j.status == "Stopped_With_Error")
    assert "20231114221320_jobs-test.tar.gz" in failed.messages[-1]
    assert leftovers(tmp_path / "out") == [
        "20231114221320_jobs-test.tar.gz",
        "20231114221320_jobs-test.tar.gz.sha256",
    ]
