"""The job store's interface, and `open_store`, the one place that picks its backend.

Callers (the service, the workers, the progress observer) see only `JobStore`. SQLite in the
state directory (jobs/sqlite.py) is the backend for one machine; a backend on a queue engine
shared by several machines would implement the same methods, and `open_store` would choose it.
The contract is pinned by tests/jobs/test_store.py, which runs against every implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

from osbundle.jobs.procid import ProcessId
from osbundle.jobs.record import Job, Status
from osbundle.jobs.sqlite import open_sqlite_store
from osbundle.model import BuildRequest


class JobStore(Protocol):
    """Jobs and their statuses, progress, messages and results. Ids are "1", "2", ... (never
    reused); an unknown id is a JobError. One instance is used from one thread at a time."""

    @property
    def state_dir(self) -> Path:
        """The directory the store keeps its files in (workers' logs too)."""

    def close(self) -> None: ...

    def __enter__(self) -> JobStore: ...

    def __exit__(self, *exc: object) -> None: ...

    def log_path(self, job_id: str) -> Path:
        """Where a background worker's stdout and stderr go."""

    # the life of one job

    def create(
        self,
        request: BuildRequest,
        *,
        owner: ProcessId,
        status: Literal["Pending", "Running"],
        background: bool = False,
    ) -> str:
        """A new job owned by process `owner`; returns its id."""

    def set_owner(self, job_id: str, owner: ProcessId) -> None:
        """Hand a pending job to the worker process that will run it."""

    def start(self, job_id: str, owner: ProcessId) -> bool:
        """Pending -> Running in process `owner`; False if the job is no longer pending."""

    def record_progress(
        self, job_id: str, stage: str, percentage: int, counts: tuple[int, int, int, int]
    ) -> None:
        """Stage, percentage and (bytes done, bytes total, files done, files total)."""

    def add_message(self, job_id: str, text: str) -> None: ...

    def cancel_requested(self, job_id: str) -> bool:
        """Whether the job has been asked to stop (True for a job that no longer exists)."""

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

    # looking at jobs

    def get(self, job_ids: Sequence[str]) -> list[Job]:
        """The named jobs, in the order asked."""

    def get_one(self, job_id: str) -> Job: ...

    def list_jobs(self) -> list[Job]:
        """Every job, oldest first."""

    # housekeeping

    def reap(self) -> list[Job]:
        """Mark active jobs whose worker is gone as Interrupted; returns them."""

    def request_cancel(self, job_id: str) -> Job:
        """A pending job is cancelled at once; a running one gets the flag its build polls.
        JobError if the job has already ended."""

    def delete(self, job_id: str) -> Job:
        """Remove an ended job's record (and log); returns what it was. JobError if active."""

    def prune(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        """Delete the records of jobs that ended `older_than` ago or earlier; their ids."""


def open_store(state_dir: Path) -> JobStore:
    """The job store in `state_dir` (created if needed); JobError if it is unusable."""
    return open_sqlite_store(state_dir)
