from __future__ import annotations

import json
import multiprocessing
import os
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from osbundle.errors import JobError
from osbundle.jobs import procid
from osbundle.jobs.record import request_to_json
from osbundle.jobs.sqlite import SCHEMA_VERSION, SqliteJobStore, open_sqlite_store
from osbundle.model import BuildRequest
from tests.jobs_fakes import hammer


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteJobStore]:
    with open_sqlite_store(tmp_path / "state") as s:
        yield s


def request(tmp_path: Path) -> BuildRequest:
    return BuildRequest(profile_dir=tmp_path / "profile", outdir=tmp_path / "out")


def test_store_uses_wal_and_the_state_dir(tmp_path: Path) -> None:
    with open_sqlite_store(tmp_path / "a" / "b") as s:
        assert s.path == tmp_path / "a" / "b" / "jobs.sqlite3"
    conn = sqlite3.connect(tmp_path / "a" / "b" / "jobs.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_corrupted_database_is_a_one_line_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "jobs.sqlite3").write_bytes(b"this is not a database" * 200)
    with pytest.raises(JobError) as info:
        open_sqlite_store(state)
    assert str(state / "jobs.sqlite3") in str(info.value)
    assert "\n" not in str(info.value)


def test_state_dir_that_cannot_exist_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(JobError, match="cannot create state directory"):
        open_sqlite_store(tmp_path / "file" / "state")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    open_sqlite_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "jobs.sqlite3")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(JobError, match="newer osbundle"):
        open_sqlite_store(tmp_path)


# The schema as osbundle 0.1.0 wrote it (version 1).
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile TEXT NOT NULL,
    output TEXT NOT NULL,
    request TEXT NOT NULL,
    build TEXT NOT NULL,
    background INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    percentage INTEGER NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    bytes_done INTEGER NOT NULL DEFAULT 0,
    bytes_total INTEGER NOT NULL DEFAULT 0,
    files_done INTEGER NOT NULL DEFAULT 0,
    files_total INTEGER NOT NULL DEFAULT 0,
    result TEXT,
    created TEXT NOT NULL,
    started TEXT,
    ended TEXT,
    pid INTEGER NOT NULL,
    pid_start TEXT NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_job ON messages(job_id, seq);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status);
"""


def test_a_version_1_store_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "jobs.sqlite3")
    conn.executescript(SCHEMA_V1)
    conn.execute(
        "INSERT INTO jobs (profile, output, request, build, status, created, pid, pid_start)"
        " VALUES ('/p', '/o', ?, 'tests.jobs_fakes:fake_build', 'Complete', '2026-01-01', 1, '')",
        (json.dumps(request_to_json(request(tmp_path))),),
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with open_sqlite_store(tmp_path) as store:
        assert [(j.job_id, j.status) for j in store.list_jobs()] == [("1", "Complete")]
        assert store.create(request(tmp_path), owner=procid.current(), status="Running") == "2"
    conn = sqlite3.connect(tmp_path / "jobs.sqlite3")
    columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    assert "build" not in columns


READ_ONLY_PROBE = """
import sys
from pathlib import Path
from osbundle.errors import JobError
from osbundle.jobs.sqlite import open_sqlite_store
try:
    with open_sqlite_store(Path(sys.argv[1])) as s:
        s.list_jobs()
        s.add_message("1", "x")
except JobError as exc:
    print("JobError:", exc)
"""


def read_only_probe(state: Path, probe: list[str] | None = None) -> list[str]:
    """The probe's command: as root, permissions do not bind, so use a read-only bind mount."""
    probe = probe or [sys.executable, "-c", READ_ONLY_PROBE, str(state)]
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
    with open_sqlite_store(state) as s:
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


def test_jobs_are_listed_and_shown_from_a_read_only_state_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with open_sqlite_store(state) as s:
        done = s.create(request(tmp_path), owner=procid.current(), status="Running")
        s.finish(done, "Complete", result={"result": "success"})
        dead = procid.ProcessId(2**22 + 1, "gone")  # above pid_max: never alive
        orphan = s.create(request(tmp_path), owner=dead, status="Running")
    before = (state / "jobs.sqlite3").read_bytes()
    command = [sys.executable, "-m", "osbundle", "tasks", "--json"]
    env = dict(os.environ, OSBUNDLE_HOME=str(state))
    try:
        listing = subprocess.run(
            read_only_probe(state, command), capture_output=True, text=True, env=env, check=False
        )
        shown = subprocess.run(
            read_only_probe(state, [*command, orphan]),
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    finally:
        os.chmod(state, 0o755)
    assert listing.returncode == 0, listing.stderr
    jobs = json.loads(listing.stdout)
    assert [(j["jobUID"], j["status"]) for j in jobs] == [(done, "Complete"), (orphan, "Running")]
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)[0]["status"] == "Running"  # not reaped: nothing written
    assert (state / "jobs.sqlite3").read_bytes() == before
    assert sorted(p.name for p in state.iterdir()) == ["jobs.sqlite3"]


def test_a_store_that_cannot_be_written_opens_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    with open_sqlite_store(state) as s:
        jid = s.create(
            request(tmp_path), owner=procid.ProcessId(2**22 + 1, "gone"), status="Running"
        )
    monkeypatch.setattr(os, "access", lambda path, mode: mode != os.W_OK)
    with open_sqlite_store(state) as s:
        assert s.read_only
        assert [j.status for j in s.list_jobs()] == ["Running"]
        assert s.reap() == []
        with pytest.raises(JobError, match=r"is read-only: its directory cannot be written$"):
            s.request_cancel(jid)
    monkeypatch.undo()
    with open_sqlite_store(state) as s:
        assert not s.read_only
        assert [j.job_id for j in s.reap()] == [jid]


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    writers, updates = 8, 500
    state = tmp_path / "state"
    with open_sqlite_store(state) as s:
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
    with open_sqlite_store(state) as s:
        messages = s.get_one(shared).messages
        assert len(messages) == writers * updates
        for w in range(writers):
            assert [m for m in messages if m.startswith(f"{w}:")] == [
                f"{w}:{i}" for i in range(updates)
            ]
            assert s.get_one(own[w]).bytes_done == updates
    print(f"{writers} x {updates} x 2 writes in {elapsed:.2f} s")
