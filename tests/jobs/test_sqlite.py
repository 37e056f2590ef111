from __future__ import annotations

import fcntl
import multiprocessing
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.errors import JobError
from osbundle.jobs import procid
from osbundle.jobs import sqlite as jobs
from osbundle.jobs.procid import ProcessId
from osbundle.jobs.sqlite import (
    JobStore,
    open_store,
    request_from_json,
    request_to_json,
    sweep_job_files,
)
from osbundle.model import BuildRequest
from tests.jobs_fakes import hammer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    with open_store(tmp_path / "state") as s:
        yield s


def request(tmp_path: Path) -> BuildRequest:
    return BuildRequest(profile_dir=tmp_path / "profile", outdir=tmp_path / "out")


def dead_process() -> ProcessId:
    """The identity a process had before it exited (its pid may already be reused)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = procid.identify(child.pid)
    child.wait()
    assert ident is not None
    return ident


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield child
    child.kill()
    child.wait()


def test_store_uses_wal_and_the_state_dir(tmp_path: Path) -> None:
    with open_store(tmp_path / "a" / "b") as s:
        assert s.path == tmp_path / "a" / "b" / "jobs.sqlite3"
    conn = sqlite3.connect(tmp_path / "a" / "b" / "jobs.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_state_dir_precedence(tmp_path: Path) -> None:
    assert jobs.resolve_state_dir(tmp_path / "x", {"OSBUNDLE_HOME": "/else"}) == tmp_path / "x"
    assert jobs.resolve_state_dir(None, {"OSBUNDLE_HOME": str(tmp_path)}) == tmp_path
    default = jobs.resolve_state_dir(None, {})
    assert default.is_absolute()
    assert "osbundle" in default.parts


def test_job_ids_are_short_increasing_and_never_reused(store: JobStore, tmp_path: Path) -> None:
    me = procid.current()
    first = store.create(request(tmp_path), owner=me, status="Running")
    second = store.create(request(tmp_path), owner=me, status="Running")
    assert (first, second) == ("1", "2")
    store.finish(second, "Complete", result={})
    store.delete(second)
    assert store.create(request(tmp_path), owner=me, status="Running") == "3"


def test_a_job_record_has_every_field(store: JobStore, tmp_path: Path) -> None:
    req = request(tmp_path)
    jid = store.create(req, owner=procid.current(), status="Running")
    store.record_progress(jid, "archive", 42, (420, 1000, 2, 5))
    store.add_message(jid, "hello")
    job = store.get_one(jid)
    assert job.status == "Running"
    assert (job.percentage, job.stage) == (42, "archive")
    assert (job.bytes_done, job.bytes_total, job.files_done, job.files_total) == (420, 1000, 2, 5)
    assert job.messages == ("hello",)
    assert job.profile == str(req.profile_dir.absolute())
    assert job.output == str(req.outdir.absolute())
    assert job.owner == procid.current()
    assert datetime.fromisoformat(job.created).tzinfo is not None
    assert job.started is not None
    assert job.ended is None
    result = {"filename": "b.tar.gz", "jobID": jid, "result": "success", "messages": []}
    store.finish(jid, "Complete", result=result, messages=["done"], output="/x/b.tar.gz")
    done = store.get_one(jid).to_json()
    assert done["jobUID"] == jid
    assert done["status"] == "Complete"
    assert done["percentage"] == 100
    assert done["output"] == "/x/b.tar.gz"
    assert done["messages"] == ["hello", "done"]
    assert done["result"] == result
    assert done["ended"] is not None
    assert set(done) >= {"stage", "profile", "created", "started", "ended", "elapsed"}


def test_pending_job_starts_once(store: JobStore, tmp_path: Path) -> None:
    jid = store.create(request(tmp_path), owner=procid.current(), status="Pending")
    assert store.get_one(jid).started is None
    assert store.start(jid, procid.current())
    assert not store.start(jid, procid.current())
    assert store.get_one(jid).status == "Running"


def test_dead_worker_is_interrupted_and_its_files_swept(store: JobStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    jid = store.create(request(tmp_path), owner=dead_process(), status="Running")
    temp = out / f".20240101000000_p.tar.gz.tmp-{jid}"
    temp_sum = out / f".20240101000000_p.tar.gz.tmp-{jid}.sha256"
    lock = out / ".20240101000000_p.tar.gz.lock"
    other = out / f".20240101000000_p.tar.gz.tmp-{jid}0"  # job 10, 11, ...: not ours
    for path in (temp, temp_sum, lock, other):
        path.write_bytes(b"partial")
    job = store.get_one(jid)
    assert job.status == "Interrupted"
    assert job.ended is not None
    assert any("interrupted" in m for m in job.messages)
    assert not temp.exists()
    assert not temp_sum.exists()
    assert not lock.exists()
    assert other.exists()


def test_a_held_lock_is_not_swept(tmp_path: Path) -> None:
    (tmp_path / ".b.tar.gz.tmp-7").write_bytes(b"")
    lock = tmp_path / ".b.tar.gz.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert sweep_job_files(tmp_path, "7") == [tmp_path / ".b.tar.gz.tmp-7"]
        assert lock.exists()
    finally:
        os.close(fd)


def test_recycled_pid_is_not_the_worker(store: JobStore, tmp_path: Path) -> None:
    impostor = ProcessId(os.getpid(), procid.current().start + "0")  # same pid, other process
    jid = store.create(request(tmp_path), owner=impostor, status="Running")
    assert store.list_jobs()[0].status == "Interrupted"
    with pytest.raises(JobError, match="already ended"):
        store.request_cancel(jid)


def test_cancel_pending_job_cancels_it_at_once(store: JobStore, tmp_path: Path) -> None:
    jid = store.create(request(tmp_path), owner=procid.current(), status="Pending")
    job = store.request_cancel(jid)
    assert job.status == "Cancelled"
    assert job.cancel_requested
    assert not store.start(jid, procid.current())


def test_cancel_running_job_flags_and_signals_its_worker(
    store: JobStore, tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    owner = procid.identify(sleeper.pid)
    assert owner is not None
    jid = store.create(request(tmp_path), owner=owner, status="Running")
    assert not store.cancel_requested(jid)
    store.request_cancel(jid)
    assert store.cancel_requested(jid)
    assert sleeper.wait(timeout=10) == -signal.SIGTERM


def test_cancel_never_signals_a_recycled_pid(
    store: JobStore, tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    jid = store.create(request(tmp_path), owner=ProcessId(sleeper.pid, "0:1"), status="Running")
    with pytest.raises(JobError, match="Interrupted"):
        store.request_cancel(jid)
    assert sleeper.poll() is None


def test_cancel_ended_job_is_a_clear_error(store: JobStore, tmp_path: Path) -> None:
    jid = store.create(request(tmp_path), owner=procid.current(), status="Running")
    store.finish(jid, "Complete", result={})
    with pytest.raises(JobError, match=f"job {jid} has already ended \\(Complete\\)"):
        store.request_cancel(jid)


def test_delete_and_unknown_ids(store: JobStore, tmp_path: Path) -> None:
    jid = store.create(request(tmp_path), owner=procid.current(), status="Running")
    with pytest.raises(JobError, match="cancel it first"):
        store.delete(jid)
    store.finish(jid, "Stopped_With_Error", result={})
    store.delete(jid)
    with pytest.raises(JobError, match=f"no job {jid}"):
        store.get_one(jid)
    with pytest.raises(JobError, match="not a job id"):
        store.get(["1; DROP TABLE jobs"])


def test_prune_removes_only_old_ended_jobs(store: JobStore, tmp_path: Path) -> None:
    me = procid.current()
    old = store.create(request(tmp_path), owner=me, status="Running")
    store.finish(old, "Complete", result={})
    running = store.create(request(tmp_path), owner=me, status="Running")
    now = datetime.now(UTC)
    assert store.prune(timedelta(days=7), now=now) == []
    assert store.prune(timedelta(days=7), now=now + timedelta(days=8)) == [old]
    assert [j.job_id for j in store.list_jobs()] == [running]


def test_corrupted_database_is_a_one_line_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "jobs.sqlite3").write_bytes(b"this is not a database" * 200)
    with pytest.raises(JobError) as info:
        open_store(state)
    assert str(state / "jobs.sqlite3") in str(info.value)
    assert "\n" not in str(info.value)


def test_state_dir_that_cannot_exist_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(JobError, match="cannot create state directory"):
        open_store(tmp_path / "file" / "state")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "jobs.sqlite3")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(JobError, match="newer osbundle"):
        open_store(tmp_path)


READ_ONLY_PROBE = """
import sys
from pathlib import Path
from osbundle.errors import JobError
from osbundle.jobs.sqlite import open_store
try:
    with open_store(Path(sys.argv[1])) as s:
        s.list_jobs()
        s.add_message("1", "x")
except JobError as exc:
    print("JobError:", exc)
"""


def read_only_probe(state: Path) -> list[str]:
    """The probe's command: as root, permissions do not bind, so use a read-only bind mount."""
    probe = [sys.executable, "-c", READ_ONLY_PROBE, str(state)]
    if os.geteuid() != 0:
        for path in state.iterdir():
            os.chmod(path, 0o444)
        os.chmod(state, 0o555)
        return probe
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare(1): cannot make the store read-only")
    check = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if check.returncode != 0:
        pytest.skip("running as root without mount namespaces: cannot make the store read-only")
    mount = f"mount --bind -o ro {shlex.quote(str(state))} {shlex.quote(str(state))}"
    return ["unshare", "-m", "sh", "-c", f"{mount} && exec {shlex.join(probe)}"]


def test_read_only_database_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with open_store(state) as s:
        s.create(request(tmp_path), owner=procid.current(), status="Pending")
    try:
        probe = subprocess.run(
            read_only_probe(state), capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        os.chmod(state, 0o755)
    assert probe.stdout.startswith("JobError: "), probe.stdout + probe.stderr
    assert str(state / "jobs.sqlite3") in probe.stdout
    assert "Traceback" not in probe.stderr


@given(
    profile=st.text(st.characters(min_codepoint=1, max_codepoint=0xD7FF)),
    force=st.booleans(),
    compression=st.sampled_from(["fast", "default", "best"]),
    threads=st.integers(0, 512),
    epoch=st.none() | st.integers(0, 8_589_934_591),
)
def test_request_round_trips_through_the_record(
    profile: str, force: bool, compression: str, threads: int, epoch: int | None
) -> None:
    req = BuildRequest(
        profile_dir=Path("/p") / profile.replace("/", "_"),
        outdir=Path("/o"),
        force=force,
        compression=compression,  # type: ignore[arg-type]
        threads=threads,
        source_date_epoch=epoch,
    )
    assert request_from_json(request_to_json(req)) == req


def test_malformed_stored_request_is_a_job_error() -> None:
    with pytest.raises(JobError, match="incomplete"):
        request_from_json({"profileDir": "/p"})
    good = request_to_json(BuildRequest(Path("/p"), Path("/o")))
    with pytest.raises(JobError, match="malformed"):
        request_from_json({**good, "compression": "zip"})


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
        assert sorted(sweep_job_files(outdir, str(job))) == sorted(mine)
        assert all(p.exists() for p in theirs)


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    writers, updates = 8, 500
    state = tmp_path / "state"
    with open_store(state) as s:
        me = procid.current()
        shared = s.create(request(tmp_path), owner=me, status="Running")
        own = [s.create(request(tmp_path), owner=me, status="Running") for _ in range(writers)]
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=hammer, args=(str(state), w, shared, own[w], updates))
        for w in range(writers)
    ]
    started = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    elapsed = time.monotonic() - started
    assert [p.exitcode for p in procs] == [0] * writers, "a writer failed (database is locked?)"
    with open_store(state) as s:
        messages = s.get_one(shared).messages
        assert len(messages) == writers * updates
        for w in range(writers):
            assert [m for m in messages if m.startswith(f"{w}:")] == [
                f"{w}:{i}" for i in range(updates)
            ]
            assert s.get_one(own[w]).bytes_done == updates
    print(f"{writers} x {updates} x 2 writes in {elapsed:.2f} s")
