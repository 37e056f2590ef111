"""The job store: every build is a job in an embedded SQLite database in the state directory.

One database per user (WAL, busy timeout, every write in a `BEGIN IMMEDIATE` transaction) so that
foreground builds, background workers and `osbundle tasks` in other terminals share it safely.
A job whose worker is gone is turned into `Interrupted` by whoever looks next (`reap`), and its
temporary files are swept: no job stays `Running` forever.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from osbundle.errors import JobError
from osbundle.jobs import procid
from osbundle.jobs.procid import ProcessId
from osbundle.jobs.record import (
    ACTIVE,
    STATUSES,
    Job,
    Status,
    job_from_row,
    now_iso,
    request_from_json,
    request_to_json,
    sweep_job_files,
)
from osbundle.model import BuildRequest

__all__ = [
    "ACTIVE",
    "DEFAULT_BUILD",
    "STATUSES",
    "Job",
    "JobStore",
    "Status",
    "open_store",
    "request_from_json",
    "request_to_json",
    "resolve_state_dir",
    "sweep_job_files",
]

DB_NAME = "jobs.sqlite3"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
DEFAULT_BUILD = "osbundle.pipeline:build_bundle"

_SCHEMA = """
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


def resolve_state_dir(state_dir: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """`--state-dir`, else `OSBUNDLE_HOME`, else the platform's per-user state directory."""
    if state_dir is not None:
        return state_dir.expanduser().absolute()
    env = os.environ if environ is None else environ
    home = env.get("OSBUNDLE_HOME", "")
    if home:
        return Path(home).expanduser().absolute()
    import platformdirs  # imported when used: 3 ms of every start otherwise

    return Path(platformdirs.user_state_dir("osbundle", appauthor=False))


@contextlib.contextmanager
def _db_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        detail = str(exc) or type(exc).__name__
        raise JobError(f"job store {path} is unusable: {detail}") from exc


def open_store(state_dir: Path | None = None) -> JobStore:
    """Open (creating if needed) the job store; JobError names the database if it is unusable."""
    directory = resolve_state_dir(state_dir)
    path = directory / DB_NAME
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise JobError(f"cannot create state directory {directory}: {exc.strerror}") from exc
    with _db_errors(path):
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            _prepare(conn, path)
        except BaseException:
            conn.close()
            raise
    return JobStore(path, conn)


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
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


class JobStore:
    """A connection to the job database; one per process, used from one thread at a time."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.state_dir = path.parent
        self._conn = conn

    def __enter__(self) -> JobStore:
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
        build: str = DEFAULT_BUILD,
    ) -> str:
        """A new job owned by process `owner`; returns its id ("1", "2", ... never reused)."""
        payload = request_to_json(request)
        now = now_iso()
        with self._write() as c:
            cur = c.execute(
                "INSERT INTO jobs (profile, output, request, build, background, status, created,"
                " started, pid, pid_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    payload["profileDir"],
                    payload["outdir"],
                    json.dumps(payload, sort_keys=True),
                    build,
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
            raise JobError(f"not a job id: {bad[0]!r} (job ids are numbers like 12)")
        job_ids = [str(int(j)) for j in job_ids]
        self.reap()
        found = {job.job_id: job for job in self._select([int(j) for j in job_ids])}
        missing = [j for j in job_ids if j not in found]
        if missing:
            raise JobError(f"no job {', '.join(missing)} in {self.path}")
        return [found[j] for j in job_ids]

    def get_one(self, job_id: str) -> Job:
        return self.get([job_id])[0]

    def list_jobs(self) -> list[Job]:
        """Every job, oldest first."""
        self.reap()
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

    def reap(self) -> list[str]:
        """Mark jobs whose worker process is gone as Interrupted and sweep their temp files."""
        with _db_errors(self.path):
            rows = self._conn.execute(
                "SELECT id, pid, pid_start, output, request FROM jobs"
                " WHERE status IN ('Pending', 'Running')"
            ).fetchall()
        dead = [r for r in rows if not procid.is_alive(ProcessId(r["pid"], r["pid_start"]))]
        if not dead:
            return []
        interrupted = []
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
                    interrupted.append(r)
        for r in interrupted:
            sweep_job_files(Path(json.loads(r["request"])["outdir"]), str(r["id"]))
        return [str(r["id"]) for r in interrupted]

    def request_cancel(self, job_id: str) -> Job:
        """Ask a job to stop: a pending one is cancelled at once, a running one is signalled.

        Raises JobError if the job does not exist or has already ended.
        """
        job = self.get_one(job_id)
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
        if status == "Running":
            # The flag alone suffices if the build polls it; the signal stops a build that is
            # blocked somewhere it does not poll. send_signal never hits a recycled pid.
            procid.send_signal(job.owner, signal.SIGTERM)
        return self.get_one(job_id)

    def delete(self, job_id: str) -> None:
        """Remove an ended job's record; JobError if it is still pending or running."""
        job = self.get_one(job_id)
        if job.active:
            raise JobError(f"job {job_id} is {job.status}; cancel it first")
        with self._write() as c:
            c.execute("DELETE FROM jobs WHERE id = ?", (int(job_id),))
        self._forget(job)

    def prune(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        """Delete the records of jobs that ended `older_than` ago or earlier; returns their ids."""
        self.reap()
        cutoff = ((now or datetime.now(UTC)) - older_than).isoformat(timespec="milliseconds")
        with self._write() as c:
            rows = c.execute(
                "SELECT id FROM jobs WHERE status NOT IN ('Pending', 'Running') AND ended <= ?",
                (cutoff,),
            ).fetchall()
            c.executemany("DELETE FROM jobs WHERE id = ?", [(r["id"],) for r in rows])
        for r in rows:
            with contextlib.suppress(OSError):
                self.log_path(str(r["id"])).unlink(missing_ok=True)
        return [str(r["id"]) for r in rows]

    def _forget(self, job: Job) -> None:
        with contextlib.suppress(OSError):
            self.log_path(job.job_id).unlink(missing_ok=True)
        if job.status != "Complete":
            sweep_job_files(Path(str(job.request.get("outdir", ""))), job.job_id)
