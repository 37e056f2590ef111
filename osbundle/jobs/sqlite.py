"""The SQLite job store: every build is a job in an embedded database in the state directory.

One database per user (WAL, busy timeout, every write in a `BEGIN IMMEDIATE` transaction) so that
foreground builds, background workers and `osbundle tasks` in other terminals share it safely.
The state directory and the database files are checked and created by `jobs/statedir.py`, never
through a planted link. A job whose worker process is gone becomes `Interrupted` in `reap`,
which whoever looks next calls (service.py, which also sweeps what the job left): no job stays
`Running` forever. The interface is `jobs.store.JobStore`; this is its backend for one machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from osbundle.errors import JobError, UnknownJob
from osbundle.jobs import procid
from osbundle.jobs.procid import ProcessId
from osbundle.jobs.record import ACTIVE, Job, Status, job_from_row, now_iso, request_to_json
from osbundle.jobs.statedir import check_database, prepare_database, prepare_state_dir
from osbundle.model import BuildRequest

DB_NAME = "jobs.sqlite3"
# Version 2 dropped the `build` column, a module:function a worker would import: a code path in
# a database row. The test hook it was is the worker's --build option now.
SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    profile TEXT NOT NULL,
    output TEXT NOT NULL,
    request TEXT NOT NULL,
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
# What brings a store of each older version to the next one.
_MIGRATIONS: Mapping[int, str] = {1: "ALTER TABLE jobs DROP COLUMN build"}


@contextlib.contextmanager
def _db_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        detail = str(exc) or type(exc).__name__
        raise JobError(f"job store {path} is unusable: {detail}") from exc


def open_sqlite_store(directory: Path) -> SqliteJobStore:
    """Open (creating if needed) the store in `directory`; JobError names it if unusable.

    A store that cannot be written (a read-only directory or file system) is opened read-only:
    jobs can be listed and shown, `reap` changes nothing, and every write is a JobError.
    """
    path = directory / DB_NAME
    prepare_state_dir(directory)
    if path.is_file() and not (os.access(directory, os.W_OK) and os.access(path, os.W_OK)):
        check_database(path)
        return _open_read_only(path)
    prepare_database(path)
    with _db_errors(path):
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            _prepare(conn, path)
        except BaseException:
            conn.close()
            raise
    return SqliteJobStore(path, conn)


def _open_read_only(path: Path) -> SqliteJobStore:
    # Without write access SQLite cannot create the WAL index (-shm); unless both it and a -wal
    # are left over, the file is all there is, and `immutable` reads it as it is.
    wal = [path.with_name(path.name + suffix).exists() for suffix in ("-wal", "-shm")]
    mode = "ro" if all(wal) else "ro&immutable=1"
    with _db_errors(path):
        uri = f"{path.absolute().as_uri()}?mode={mode}"
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version != SCHEMA_VERSION:
                raise JobError(f"job store {path} is read-only and has schema {version}")
        except BaseException:
            conn.close()
            raise
    return SqliteJobStore(path, conn, read_only=True)


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise JobError(f"job store {path} was written by a newer osbundle (schema {version})")
    mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
    if mode.lower() != "wal":
        raise JobError(f"job store {path} cannot use write-ahead logging (journal mode {mode})")
    conn.execute("PRAGMA synchronous = NORMAL")
    if version < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _upgrade(version):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


def _upgrade(version: int) -> list[str]:
    """The statements that bring a store of `version` (0: new) to SCHEMA_VERSION."""
    if version == 0:
        return [statement for statement in _SCHEMA.split(";") if statement.strip()]
    return [_MIGRATIONS[v] for v in range(version, SCHEMA_VERSION)]


class SqliteJobStore:
    """A connection to the job database; one per process, used from one thread at a time."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, read_only: bool = False) -> None:
        self.path = path
        self.state_dir = path.parent
        self.read_only = read_only
        self._conn = conn

    def __enter__(self) -> SqliteJobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def log_path(self, job_id: str) -> Path:
        """Where a background worker's stdout/stderr go (crashes before the job is recorded)."""
        return self.state_dir / "logs" / f"{job_id}.log"

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise JobError(f"job store {self.path} is read-only: its directory cannot be written")
        with _db_errors(self.path):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with _db_errors(self.path):
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    # -- lifecycle of one job -------------------------------------------------------------

    def create(
        self,
        request: BuildRequest,
        *,
        owner: ProcessId,
        status: Literal["Pending", "Running"],
        background: bool = False,
    ) -> str:
        """A new job owned by process `owner`; returns its id ("1", "2", ... never reused)."""
        payload = request_to_json(request)
        now = now_iso()
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO jobs (profile, output, request, background, status, created,"
                " started, pid, pid_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    payload["profileDir"],
                    payload["outdir"],
                    json.dumps(payload, sort_keys=True),
                    int(background),
                    status,
                    now,
                    now if status == "Running" else None,
                    owner.pid,
                    owner.start,
                ),
            )
            return str(cur.lastrowid)

    def set_owner(self, job_id: str, owner: ProcessId) -> None:
        """Hand a pending job to the worker process that will run it."""
        with self._write() as c:
            c.execute(
                "UPDATE jobs SET pid = ?, pid_start = ? WHERE id = ? AND status = 'Pending'",
                (owner.pid, owner.start, int(job_id)),
            )

    def start(self, job_id: str, owner: ProcessId) -> bool:
        """Pending -> Running in process `owner`; False if the job is no longer pending."""
        with self._write() as c:
            cur = c.execute(
                "UPDATE jobs SET status = 'Running', started = ?, pid = ?, pid_start = ?"
                " WHERE id = ? AND status = 'Pending'",
                (now_iso(), owner.pid, owner.start, int(job_id)),
            )
            return cur.rowcount == 1

    def record_progress(
        self, job_id: str, stage: str, percentage: int, counts: tuple[int, int, int, int]
    ) -> None:
        """Stage, percentage and (bytes done, bytes total, files done, files total)."""
        with self._write() as c:
            c.execute(
                "UPDATE jobs SET stage = ?, percentage = ?, bytes_done = ?, bytes_total = ?,"
                " files_done = ?, files_total = ? WHERE id = ?",
                (stage, percentage, *counts, int(job_id)),
            )

    def add_message(self, job_id: str, text: str) -> None:
        with self._write() as c:
            c.execute("INSERT INTO messages (job_id, text) VALUES (?, ?)", (int(job_id), text))

    def cancel_requested(self, job_id: str) -> bool:
        with _db_errors(self.path):
            row = self._conn.execute(
                "SELECT cancel_requested FROM jobs WHERE id = ?", (int(job_id),)
            ).fetchone()
        return row is None or bool(row[0])

    def finish(
        self,
        job_id: str,
        status: Status,
        *,
        result: Mapping[str, Any],
        messages: Sequence[str] = (),
        output: str | None = None,
    ) -> None:
        """Record the end of a job: its status, result and final messages."""
        with self._write() as c:
            c.execute(
                "UPDATE jobs SET status = ?, ended = ?, result = ?, output = COALESCE(?, output),"
                " percentage = CASE WHEN ? = 'Complete' THEN 100 ELSE percentage END"
                " WHERE id = ?",
                (status, now_iso(), json.dumps(result), output, status, int(job_id)),
            )
            c.executemany(
                "INSERT INTO messages (job_id, text) VALUES (?, ?)",
                [(int(job_id), m) for m in messages],
            )

    # -- looking at jobs ------------------------------------------------------------------

    def get(self, job_ids: Sequence[str]) -> list[Job]:
        """The named jobs, in the order asked; JobError if one does not exist."""
        bad = [j for j in job_ids if not (j.isascii() and j.isdigit())]
        if bad:
            raise UnknownJob(f"not a job id: {bad[0]!r} (job ids are numbers like 12)")
        job_ids = [str(int(j)) for j in job_ids]
        found = {job.job_id: job for job in self._select([int(j) for j in job_ids])}
        missing = [j for j in job_ids if j not in found]
        if missing:
            raise UnknownJob(f"no job {', '.join(missing)} in {self.path}")
        return [found[j] for j in job_ids]

    def get_one(self, job_id: str) -> Job:
        return self.get([job_id])[0]

    def list_jobs(self) -> list[Job]:
        """Every job, oldest first."""
        return self._select(None)

    def _select(self, ids: Sequence[int] | None) -> list[Job]:
        where, params = "", tuple[int, ...]()
        if ids is not None:
            where, params = f"WHERE id IN ({','.join('?' * len(ids))})", tuple(ids)
        with self._read() as c:
            rows = c.execute(f"SELECT * FROM jobs {where} ORDER BY id", params).fetchall()  # noqa: S608
            texts: dict[int, list[str]] = {}
            msg_where = where.replace("id IN", "job_id IN")
            for m in c.execute(
                f"SELECT job_id, text FROM messages {msg_where} ORDER BY seq",  # noqa: S608
                params,
            ):
                texts.setdefault(int(m["job_id"]), []).append(str(m["text"]))
        return [job_from_row(r, texts.get(int(r["id"]), [])) for r in rows]

    # -- housekeeping ---------------------------------------------------------------------

    def reap(self) -> list[Job]:
        """Mark jobs whose worker process is gone as Interrupted; returns them as they are now."""
        if self.read_only:  # shown as it is (open_sqlite_store)
            return []
        with _db_errors(self.path):
            rows = self._conn.execute(
                "SELECT id, pid, pid_start FROM jobs WHERE status IN ('Pending', 'Running')"
            ).fetchall()
        dead = [r for r in rows if not procid.is_alive(ProcessId(r["pid"], r["pid_start"]))]
        if not dead:
            return []
        interrupted: list[int] = []
        with self._write() as c:
            for r in dead:
                cur = c.execute(
                    "UPDATE jobs SET status = 'Interrupted', ended = ? WHERE id = ?"
                    " AND status IN ('Pending', 'Running') AND pid = ? AND pid_start = ?",
                    (now_iso(), r["id"], r["pid"], r["pid_start"]),
                )
                if cur.rowcount == 1:
                    note = f"interrupted: its process (pid {r['pid']}) ended without a result"
                    c.execute("INSERT INTO messages (job_id, text) VALUES (?, ?)", (r["id"], note))
                    interrupted.append(int(r["id"]))
        return self._select(interrupted) if interrupted else []

    def request_cancel(self, job_id: str) -> Job:
        """Ask a job to stop: a pending one is cancelled at once, a running one gets the flag its
        build polls. Returns the job as it is now; JobError if it does not exist or has ended."""
        self.get_one(job_id)
        with self._write() as c:
            row = c.execute("SELECT status FROM jobs WHERE id = ?", (int(job_id),)).fetchone()
            status = str(row["status"])
            if status not in ACTIVE:
                raise JobError(f"job {job_id} has already ended ({status}); nothing to cancel")
            c.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (int(job_id),))
            if status == "Pending":
                c.execute(
                    "UPDATE jobs SET status = 'Cancelled', ended = ? WHERE id = ?",
                    (now_iso(), int(job_id)),
                )
                c.execute(
                    "INSERT INTO messages (job_id, text) VALUES (?, ?)",
                    (int(job_id), "cancelled before it started"),
                )
        return self.get_one(job_id)

    def delete(self, job_id: str) -> Job:
        """Remove an ended job's record and log; returns what it was. JobError if it is still
        pending or running."""
        job = self.get_one(job_id)
        if job.active:
            raise JobError(f"job {job_id} is {job.status}; cancel it first")
        with self._write() as c:
            c.execute("DELETE FROM jobs WHERE id = ?", (int(job_id),))
        self._remove_log(job.job_id)
        return job

    def prune(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        """Delete the records of jobs that ended `older_than` ago or earlier; returns their ids."""
        cutoff = ((now or datetime.now(UTC)) - older_than).isoformat(timespec="milliseconds")
        with self._write() as c:
            rows = c.execute(
                "SELECT id FROM jobs WHERE status NOT IN ('Pending', 'Running') AND ended <= ?",
                (cutoff,),
            ).fetchall()
            c.executemany("DELETE FROM jobs WHERE id = ?", [(r["id"],) for r in rows])
        for r in rows:
            self._remove_log(str(r["id"]))
        return [str(r["id"]) for r in rows]

    def _remove_log(self, job_id: str) -> None:
        with contextlib.suppress(OSError):
            self.log_path(job_id).unlink(missing_ok=True)
