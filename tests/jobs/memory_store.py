"""An in-memory `JobStore`: the second backend the interface must admit, and the service's fake.

It keeps the contract of jobs/store.py with plain dicts: tests/jobs/test_store.py runs the same
tests against it and against SQLite, so a behaviour the callers rely on cannot live only in the
SQL. Liveness of a job's owner comes from `alive` (real processes by default).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from osbundle.errors import JobError, UnknownJob
from osbundle.jobs import procid
from osbundle.jobs.procid import ProcessId
from osbundle.jobs.record import ACTIVE, Job, Status, now_iso, request_to_json
from osbundle.model import BuildRequest


class MemoryJobStore:
    def __init__(
        self, state_dir: Path, alive: Callable[[ProcessId], bool] = procid.is_alive
    ) -> None:
        self._state_dir = state_dir
        self._alive = alive
        self._jobs: dict[str, Job] = {}
        self._last = 0

    @property
    def state_dir(self) -> Path:
        return self._state_dir

    def close(self) -> None:
        pass

    def __enter__(self) -> MemoryJobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_path(self, job_id: str) -> Path:
        return self._state_dir / "logs" / f"{job_id}.log"

    def create(
        self,
        request: BuildRequest,
        *,
        owner: ProcessId,
        status: Literal["Pending", "Running"],
        background: bool = False,
    ) -> str:
        self._last += 1
        payload = request_to_json(request)
        now = now_iso()
        job = Job(
            job_id=str(self._last),
            profile=payload["profileDir"],
            output=payload["outdir"],
            status=status,
            percentage=0,
            stage="",
            messages=(),
            result=None,
            created=now,
            started=now if status == "Running" else None,
            ended=None,
            owner=owner,
            background=background,
            cancel_requested=False,
            bytes_done=0,
            bytes_total=0,
            files_done=0,
            files_total=0,
            request=payload,
        )
        self._jobs[job.job_id] = job
        return job.job_id

    def _update(self, job_id: str, **changes: Any) -> None:
        self._jobs[job_id] = dataclasses.replace(self._jobs[job_id], **changes)

    def set_owner(self, job_id: str, owner: ProcessId) -> None:
        if self._jobs[job_id].status == "Pending":
            self._update(job_id, owner=owner)

    def start(self, job_id: str, owner: ProcessId) -> bool:
        if self._jobs[job_id].status != "Pending":
            return False
        self._update(job_id, status="Running", started=now_iso(), owner=owner)
        return True

    def record_progress(
        self, job_id: str, stage: str, percentage: int, counts: tuple[int, int, int, int]
    ) -> None:
        done, total, files_done, files_total = counts
        self._update(
            job_id,
            stage=stage,
            percentage=percentage,
            bytes_done=done,
            bytes_total=total,
            files_done=files_done,
            files_total=files_total,
        )

    def add_message(self, job_id: str, text: str) -> None:
        self._update(job_id, messages=(*self._jobs[job_id].messages, text))

    def cancel_requested(self, job_id: str) -> bool:
        job = self._jobs.get(job_id)
        return job is None or job.cancel_requested

    def finish(
        self,
        job_id: str,
        status: Status,
        *,
        result: Mapping[str, Any],
        messages: Sequence[str] = (),
        output: str | None = None,
    ) -> None:
        job = self._jobs[job_id]
        self._update(
            job_id,
            status=status,
            ended=now_iso(),
            result=dict(result),
            output=output if output is not None else job.output,
            percentage=100 if status == "Complete" else job.percentage,
            messages=(*job.messages, *messages),
        )

    def get(self, job_ids: Sequence[str]) -> list[Job]:
        bad = [j for j in job_ids if not (j.isascii() and j.isdigit())]
        if bad:
            raise UnknownJob(f"not a job id: {bad[0]!r} (job ids are numbers like 12)")
        ids = [str(int(j)) for j in job_ids]
        missing = [j for j in ids if j not in self._jobs]
        if missing:
            raise UnknownJob(f"no job {', '.join(missing)} in memory")
        return [self._jobs[j] for j in ids]

    def get_one(self, job_id: str) -> Job:
        return self.get([job_id])[0]

    def list_jobs(self) -> list[Job]:
        return [self._jobs[j] for j in sorted(self._jobs, key=int)]

    def reap(self) -> list[Job]:
        dead = [j for j in self.list_jobs() if j.status in ACTIVE and not self._alive(j.owner)]
        for job in dead:
            note = f"interrupted: its process (pid {job.owner.pid}) ended without a result"
            self._update(
                job.job_id,
                status="Interrupted",
                ended=now_iso(),
                messages=(*job.messages, note),
            )
        return [self._jobs[j.job_id] for j in dead]

    def request_cancel(self, job_id: str) -> Job:
        job = self.get_one(job_id)
        if job.status not in ACTIVE:
            raise JobError(f"job {job_id} has already ended ({job.status}); nothing to cancel")
        self._update(job_id, cancel_requested=True)
        if job.status == "Pending":
            messages = (*job.messages, "cancelled before it started")
            self._update(job_id, status="Cancelled", ended=now_iso(), messages=messages)
        return self._jobs[job_id]

    def delete(self, job_id: str) -> Job:
        job = self.get_one(job_id)
        if job.active:
            raise JobError(f"job {job_id} is {job.status}; cancel it first")
        del self._jobs[job.job_id]
        self.log_path(job.job_id).unlink(missing_ok=True)
        return job

    def prune(self, older_than: timedelta, now: datetime | None = None) -> list[str]:
        cutoff = ((now or datetime.now(UTC)) - older_than).isoformat(timespec="milliseconds")
        old = [j.job_id for j in self.list_jobs() if j.ended is not None and j.ended <= cutoff]
        for job_id in old:
            del self._jobs[job_id]
            self.log_path(job_id).unlink(missing_ok=True)
        return old
