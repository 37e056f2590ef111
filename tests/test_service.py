"""service.py: builds and jobs through one API, and the housekeeping that reading implies."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from osbundle.errors import BuildError, JobError
from osbundle.jobs import procid
from osbundle.jobs.procid import ProcessId
from osbundle.jobs.store import JobStore
from osbundle.model import BuildRequest
from osbundle.service import Service, open_service, state_directory
from tests.fakes import dead_process
from tests.jobs.memory_store import MemoryJobStore
from tests.jobs_fakes import FAKE_TARGET, FakeSpec, release, write_fake_profile


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    with MemoryJobStore(tmp_path / "state") as s:
        yield s


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


def build_request(tmp_path: Path, spec: FakeSpec | None = None) -> BuildRequest:
    profile = write_fake_profile(tmp_path / "p", spec or FakeSpec())
    return BuildRequest(profile, tmp_path / "out")


def leftovers(outdir: Path) -> list[str]:
    return sorted(p.name for p in outdir.iterdir()) if outdir.exists() else []


def test_state_directory_precedence(tmp_path: Path) -> None:
    assert state_directory(tmp_path / "x", {"OSBUNDLE_HOME": "/else"}) == tmp_path / "x"
    assert state_directory(None, {"OSBUNDLE_HOME": str(tmp_path)}) == tmp_path
    default = state_directory(None, {})
    assert default.is_absolute()
    assert "osbundle" in default.parts


def test_open_service_uses_the_store_in_the_state_directory(tmp_path: Path) -> None:
    with open_service(tmp_path / "state") as service:
        assert service.store.state_dir == tmp_path / "state"
        assert service.jobs() == []
    assert (tmp_path / "state" / "jobs.sqlite3").is_file()


def test_reading_jobs_interrupts_a_dead_workers_job_and_sweeps_its_files(
    store: JobStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    jid = store.create(build_request(tmp_path), owner=dead_process(), status="Running")
    temp = out / f".20240101000000_p.tar.gz.tmp-{jid}"
    temp_sum = out / f".20240101000000_p.tar.gz.tmp-{jid}.sha256"
    lock = out / ".20240101000000_p.tar.gz.lock"
    other = out / f".20240101000000_p.tar.gz.tmp-{jid}0"  # job 10, 11, ...: not ours
    for path in (temp, temp_sum, lock, other):
        path.write_bytes(b"partial")
    job = Service(store).job(jid)
    assert job.status == "Interrupted"
    assert leftovers(out) == [other.name]


def test_cancel_flags_a_running_job_and_signals_its_worker(
    store: JobStore, tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    owner = procid.identify(sleeper.pid)
    assert owner is not None
    jid = store.create(build_request(tmp_path), owner=owner, status="Running")
    job = Service(store).cancel(jid)
    assert job.cancel_requested
    assert store.cancel_requested(jid)
    assert sleeper.wait(timeout=10) == -signal.SIGTERM


def test_cancel_never_signals_a_recycled_pid(
    store: JobStore, tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    owner = ProcessId(sleeper.pid, "0:1")  # the sleeper's pid, but not the process it was
    jid = store.create(build_request(tmp_path), owner=owner, status="Running")
    with pytest.raises(JobError, match="Interrupted"):
        Service(store).cancel(jid)
    assert sleeper.poll() is None


def test_delete_sweeps_what_a_failed_job_left_but_never_a_bundle(
    store: JobStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    service = Service(store)
    failed = store.create(build_request(tmp_path), owner=procid.current(), status="Running")
    store.finish(failed, "Stopped_With_Error", result={})
    done = store.create(build_request(tmp_path), owner=procid.current(), status="Running")
    store.finish(done, "Complete", result={})
    for name in (f".b.tar.gz.tmp-{failed}", f".b.tar.gz.tmp-{done}", "b.tar.gz"):
        (out / name).write_bytes(b"")
    service.delete(failed)
    service.delete(done)
    assert leftovers(out) == [f".b.tar.gz.tmp-{done}", "b.tar.gz"]
    assert service.jobs() == []
    with pytest.raises(JobError, match=f"no job {done}"):
        service.job(done)


def test_a_foreground_build_is_a_job_with_a_result(store: JobStore, tmp_path: Path) -> None:
    service = Service(store, build=FAKE_TARGET)
    result = service.run(build_request(tmp_path, FakeSpec(files=2)))
    assert result.result == "success"
    assert service.job(result.job_id).status == "Complete"
    assert service.result(result.job_id) == result
    assert leftovers(tmp_path / "out") == [result.filename]


def test_a_failed_foreground_build_raises_and_its_result_says_why(
    store: JobStore, tmp_path: Path
) -> None:
    service = Service(store, build=FAKE_TARGET)
    with pytest.raises(BuildError, match="no space") as info:
        service.run(build_request(tmp_path, FakeSpec(fail="no space")))
    result = service.result(info.value.job_id)
    assert result is not None
    assert (result.result, result.messages) == ("failed", ("no space",))


def test_a_background_build_runs_in_a_worker_and_can_be_waited_for(tmp_path: Path) -> None:
    with open_service(tmp_path / "state") as service:
        fake = Service(service.store, build=FAKE_TARGET)
        jid = fake.submit(build_request(tmp_path, FakeSpec(files=3, hold_at=1)))
        assert fake.result(jid) is None  # held: it cannot have ended
        assert fake.wait([jid], timeout=0)[0].active
        release(tmp_path / "p")
        job = fake.wait([jid], timeout=60)[0]
        assert job.status == "Complete", job.messages
        result = fake.result(jid)
        assert result is not None
        assert result.filename == "19800101000000_fake.tar.gz"


def test_prune_reaps_first_and_then_removes_old_records(store: JobStore, tmp_path: Path) -> None:
    service = Service(store)
    store.create(build_request(tmp_path), owner=dead_process(), status="Running")
    assert service.prune(timedelta(0)) == ["1"]  # interrupted, so ended, so old enough
    assert service.jobs() == []
