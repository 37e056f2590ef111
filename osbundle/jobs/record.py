"""Job records as values: statuses, the `Job` dataclass, the stored request."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from osbundle.errors import JobError
from osbundle.jobs.procid import ProcessId
from osbundle.model import BuildRequest, Compression

Status = Literal["Pending", "Running", "Complete", "Cancelled", "Stopped_With_Error", "Interrupted"]
STATUSES: tuple[Status, ...] = get_args(Status)
ACTIVE: tuple[Status, ...] = ("Pending", "Running")
_COMPRESSIONS: tuple[Compression, ...] = get_args(Compression)


def now_iso() -> str:
    """UTC, millisecond precision: sorts as text in the same order as in time."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Job:
    """One job record, as `osbundle tasks` shows it."""

    job_id: str
    profile: str
    output: str
    status: Status
    percentage: int
    stage: str
    messages: tuple[str, ...]
    result: Mapping[str, Any] | None
    created: str
    started: str | None
    ended: str | None
    owner: ProcessId
    background: bool
    cancel_requested: bool
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    request: Mapping[str, Any]

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    def elapsed(self, now: datetime | None = None) -> float:
        """Seconds from start (or creation) to end (or now)."""
        begin = datetime.fromisoformat(self.started or self.created)
        end = datetime.fromisoformat(self.ended) if self.ended else (now or datetime.now(UTC))
        return max(0.0, (end - begin).total_seconds())

    def to_json(self) -> dict[str, Any]:
        """The appliance-like shape of `GET /tasks/{job_list}` items."""
        return {
            "jobUID": self.job_id,
            "status": self.status,
            "percentage": self.percentage,
            "stage": self.stage,
            "profile": self.profile,
            "output": self.output,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
            "elapsed": round(self.elapsed(), 3),
            "bytesDone": self.bytes_done,
            "bytesTotal": self.bytes_total,
            "filesDone": self.files_done,
            "filesTotal": self.files_total,
            "background": self.background,
            "pid": self.owner.pid,
            "messages": list(self.messages),
            "result": dict(self.result) if self.result is not None else None,
        }


def job_from_row(row: sqlite3.Row, messages: list[str]) -> Job:
    result = json.loads(row["result"]) if row["result"] else None
    return Job(
        job_id=str(row["id"]),
        profile=str(row["profile"]),
        output=str(row["output"]),
        status=row["status"] if row["status"] in STATUSES else "Interrupted",
        percentage=int(row["percentage"]),
        stage=str(row["stage"]),
        messages=tuple(messages),
        result=result if isinstance(result, dict) else None,
        created=str(row["created"]),
        started=row["started"],
        ended=row["ended"],
        owner=ProcessId(int(row["pid"]), str(row["pid_start"])),
        background=bool(row["background"]),
        cancel_requested=bool(row["cancel_requested"]),
        bytes_done=int(row["bytes_done"]),
        bytes_total=int(row["bytes_total"]),
        files_done=int(row["files_done"]),
        files_total=int(row["files_total"]),
        request=json.loads(row["request"]),
    )


def request_to_json(request: BuildRequest) -> dict[str, Any]:
    """The request as stored in the job record; paths made absolute for the worker."""
    return {
        "profileDir": str(request.profile_dir.absolute()),
        "outdir": str(request.outdir.absolute()),
        "force": request.force,
        "compression": request.compression,
        "threads": request.threads,
        "sourceDateEpoch": request.source_date_epoch,
    }


def request_from_json(data: Mapping[str, Any]) -> BuildRequest:
    """Inverse of `request_to_json`; JobError if the stored request is malformed."""
    try:
        profile_dir, outdir = data["profileDir"], data["outdir"]
        force, compression = data["force"], data["compression"]
        threads, epoch = data["threads"], data["sourceDateEpoch"]
    except (KeyError, TypeError) as exc:
        raise JobError(f"stored build request is incomplete: missing {exc}") from exc
    ok = (
        isinstance(profile_dir, str)
        and isinstance(outdir, str)
        and isinstance(force, bool)
        and compression in _COMPRESSIONS
        and isinstance(threads, int)
        and (epoch is None or isinstance(epoch, int))
    )
    if not ok:
        raise JobError(f"stored build request is malformed: {json.dumps(dict(data))}")
    return BuildRequest(
        profile_dir=Path(profile_dir),
        outdir=Path(outdir),
        force=force,
        compression=compression,
        threads=threads,
        source_date_epoch=epoch,
    )
