"""The JobStore contract (jobs/store.py), run against every backend: SQLite and in memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from osbundle.errors import JobError, UnknownJob
from osbundle.jobs import procid
from osbundle.jobs.procid import ProcessId
from osbundle.jobs.store import JobStore, open_store
from osbundle.model import BuildRequest
from tests.fakes import dead_process
from tests.jobs.memory_store import MemoryJobStore


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    opened: JobStore = (
        open_store(tmp_path / "state")
        if request.param == "sqlite"
        else MemoryJobStore(tmp_path / "state")
    )
    with opened as s:
        yield s


def build_request(tmp_path: Path) -> BuildRequest:
    return BuildRequest(profile_dir=tmp_path / "profile", outdir=tmp_path / "out")


def test_the_sqlite_store_is_what_open_store_opens(tmp_path: Path) -> None:
    with open_store(tmp_path / "a") as s:
        assert s.state_dir == tmp_path / "a"
        assert (tmp_path / "a" / "jobs.sqlite3").is_file()


def test_job_ids_are_short_increasing_and_never_reused(store: JobStore, tmp_path: Path) -> None:
    me = procid.current()
    first = store.create(build_request(tmp_path), owner=me, status="Running")
    second = store.create(build_request(tmp_path), owner=me, status="Running")
    assert (first, second) == ("1", "2")
    store.finish(second, "Complete", result={})
    store.delete(second)
    assert store.create(build_request(tmp_path), owner=me, status="Running") == "3"


def test_a_job_record_has_every_field(store: JobStore, tmp_path: Path) -> None:
    req = build_request(tmp_path)
    jid = store.create(req, owner=procid.current(), status="Running", background=True)
    store.record_progress(jid, "archive", 42, (420, 1000, 2, 5))
    store.add_message(jid, "hello")
    job = store.get_one(jid)
    assert job.status == "Running"
    assert job.background
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


def test_jobs_come_in_the_order_asked_and_all_oldest_first(store: JobStore, tmp_path: Path) -> None:
    ids = [store.create(build_request(tmp_path), owner=procid.current(), status="Running")]
    ids.append(store.create(build_request(tmp_path), owner=procid.current(), status="Pending"))
    assert [j.job_id for j in store.get([ids[1], ids[0]])] == [ids[1], ids[0]]
    assert [j.job_id for j in store.list_jobs()] == ids
    assert [j.job_id for j in store.get(["01"])] == ["1"]  # ids are numbers


def test_pending_job_starts_once_in_its_new_owner(store: JobStore, tmp_path: Path) -> None:
    jid = store.create(build_request(tmp_path), owner=procid.current(), status="Pending")
    assert store.get_one(jid).started is None
    worker = ProcessId(os.getpid(), procid.current().start)
    store.set_owner(jid, worker)
    assert store.get_one(jid).owner == worker
    assert store.start(jid, procid.current())
    assert not store.start(jid, procid.current())
    assert store.get_one(jid).status == "Running"


def test_reap_interrupts_jobs_whose_worker_is_gone(store: JobStore, tmp_path: Path) -> None:
    dead = store.create(build_request(tmp_path), owner=dead_process(), status="Running")
    alive = store.create(build_request(tmp_path), owner=procid.current(), status="Running")
    reaped = store.reap()
    assert [j.job_id for j in reaped] == [dead]
    assert reaped[0].status == "Interrupted"
    assert reaped[0].ended is not None
    assert any("interrupted" in m for m in reaped[0].messages)
    assert store.get_one(alive).status == "Running"
    assert store.reap() == []  # once


def test_a_recycled_pid_is_not_the_worker(store: JobStore, tmp_path: Path) -> None:
    impostor = ProcessId(os.getpid(), procid.current().start + "0")  # same pid, other process
    jid = store.create(build_request(tmp_path), owner=impostor, status="Running")
    assert [j.job_id for j in store.reap()] == [jid]


def test_cancel_pending_job_cancels_it_at_once(store: JobStore, tmp_path: Path) -> None:
    jid = store.create(build_request(tmp_path), owner=procid.current(), status="Pending")
    job = store.request_cancel(jid)
    assert job.status == "Cancelled"
    assert job.cancel_requested
    assert "cancelled before it started" in job.messages
    assert not store.start(jid, procid.current())


def test_cancel_running_job_sets_the_flag_its_build_polls(store: JobStore, tmp_path: Path) -> None:
    jid = store.create(build_request(tmp_path), owner=procid.current(), status="Running")
    assert not store.cancel_requested(jid)
    job = store.request_cancel(jid)
    assert job.status == "Running"
    assert store.cancel_requested(jid)
    assert store.cancel_requested("999")  # a job that is gone has nothing left to do


def test_cancel_ended_job_is_a_clear_error(store: JobStore, tmp_path: Path) -> None:
    jid = store.create(build_request(tmp_path), owner=procid.current(), status="Running")
    store.finish(jid, "Complete", result={})
    with pytest.raises(JobError, match=f"job {jid} has already ended \\(Complete\\)"):
        store.request_cancel(jid)


def test_delete_and_unknown_ids(store: JobStore, tmp_path: Path) -> None:
    jid = store.create(build_request(tmp_path), owner=procid.current(), status="Running")
    with pytest.raises(JobError, match="cancel it first"):
        store.delete(jid)
    store.finish(jid, "Stopped_With_Error", result={})
    log = store.log_path(jid)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("worker output")
    assert store.delete(jid).status == "Stopped_With_Error"
    assert not log.exists()
    with pytest.raises(UnknownJob, match=f"no job {jid}"):
        store.get_one(jid)
    with pytest.raises(UnknownJob, match="not a job id"):
        store.get(["1; DROP TABLE jobs"])


def test_prune_removes_only_old_ended_jobs(store: JobStore, tmp_path: Path) -> None:
    me = procid.current()
    old = store.create(build_request(tmp_path), owner=me, status="Running")
    store.finish(old, "Complete", result={})
    running = store.create(build_request(tmp_path), owner=me, status="Running")
    now = datetime.now(UTC)
    assert store.prune(timedelta(days=7), now=now) == []
    assert store.prune(timedelta(days=7), now=now + timedelta(days=8)) == [old]
    assert [j.job_id for j in store.list_jobs()] == [running]
