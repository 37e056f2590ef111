from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from osbundle.cli.render import format_elapsed
from osbundle.cli.tasks import parse_duration, parse_ids, tasks_app
from osbundle.errors import JobError
from osbundle.jobs import procid, worker
from osbundle.jobs.store import open_store
from osbundle.model import BuildRequest
from tests.fakes import dead_process
from tests.jobs_fakes import FAKE_TARGET, FakeSpec, write_fake_profile

runner = CliRunner()


def invoke(state: Path, *args: str) -> tuple[int, str, str, BaseException | None]:
    result = runner.invoke(tasks_app, [*args, "--state-dir", str(state)])
    return result.exit_code, result.stdout, result.stderr, result.exception


def make_jobs(state: Path) -> dict[str, str]:
    """One job of each kind: complete, failed, running (owned by this process), pending."""
    req = BuildRequest(Path("/profiles/p"), Path("/out"))
    me = procid.current()
    with open_store(state) as s:
        done = s.create(req, owner=me, status="Running")
        s.record_progress(done, "export", 99, (10, 10, 1, 1))
        result = {"filename": "x.tar.gz", "jobID": done, "result": "success", "messages": []}
        s.finish(done, "Complete", result=result, output="/out/x.tar.gz")
        failed = s.create(req, owner=me, status="Running")
        s.finish(failed, "Stopped_With_Error", result={}, messages=["disk full"])
        running = s.create(req, owner=me, status="Running")
        s.record_progress(running, "archive", 42, (420, 1000, 1, 3))
        pending = s.create(req, owner=me, status="Pending")
    return {"done": done, "failed": failed, "running": running, "pending": pending}


def test_empty_store_lists_no_jobs(tmp_path: Path) -> None:
    code, out, _, _ = invoke(tmp_path)
    assert (code, out) == (0, "no jobs\n")
    code, out, _, _ = invoke(tmp_path, "--json")
    assert (code, json.loads(out)) == (0, [])


def test_list_shows_status_percentage_stage_elapsed(tmp_path: Path) -> None:
    ids = make_jobs(tmp_path)
    code, out, _, _ = invoke(tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["JOB", "STATUS", "%", "STAGE", "ELAPSED"]
    running = next(line for line in lines if line.split()[0] == ids["running"])
    assert running.split()[1:4] == ["Running", "42", "archive"]
    assert running.split()[4].endswith("s")
    assert len(lines) == 5


def test_json_has_the_appliance_shape(tmp_path: Path) -> None:
    ids = make_jobs(tmp_path)
    code, out, _, _ = invoke(tmp_path, f"{ids['done']},{ids['failed']}", "--json")
    assert code == 0
    done, failed = json.loads(out)
    assert done["jobUID"] == ids["done"]
    assert done["status"] == "Complete"
    assert done["percentage"] == 100
    assert done["result"]["filename"] == "x.tar.gz"
    assert failed["status"] == "Stopped_With_Error"
    assert failed["messages"] == ["disk full"]
    expected = {"jobUID", "status", "percentage", "stage", "profile", "output", "created",
                "started", "ended", "messages", "result"}  # fmt: skip
    assert expected <= set(done)


def test_named_jobs_show_details_and_messages(tmp_path: Path) -> None:
    ids = make_jobs(tmp_path)
    code, out, _, _ = invoke(tmp_path, ids["failed"], "show", ids["running"])
    assert code == 2  # "show" is not a job id
    code, out, _, _ = invoke(tmp_path, ids["failed"], ids["running"])
    assert code == 0
    assert f"job {ids['failed']}: Stopped_With_Error" in out
    assert "message  disk full" in out
    assert f"job {ids['running']}: Running 42% (archive)" in out
    assert "archived 420 of 1,000 bytes, 1 of 3 files" in out


def test_unknown_and_malformed_ids(tmp_path: Path) -> None:
    code, _, _, exc = invoke(tmp_path, "99")
    assert isinstance(exc, JobError)
    assert "no job 99" in str(exc)
    code, _, err, _ = invoke(tmp_path, "12,abc")
    assert code == 2
    assert "not a job id: 'abc'" in err


def test_cancel_finished_job_is_an_error_and_pending_is_cancelled(tmp_path: Path) -> None:
    ids = make_jobs(tmp_path)
    code, out, err, _ = invoke(tmp_path, "cancel", ids["done"], ids["pending"])
    assert code == 1
    assert f"job {ids['done']} has already ended (Complete); nothing to cancel" in err
    assert f"job {ids['pending']}: Cancelled" in out


def test_delete_and_prune(tmp_path: Path) -> None:
    ids = make_jobs(tmp_path)
    code, out, err, _ = invoke(tmp_path, "delete", ids["done"], ids["running"])
    assert code == 1
    assert f"deleted job {ids['done']}" in out
    assert "cancel it first" in err
    code, out, _, _ = invoke(tmp_path, "prune", "--older-than", "0s")
    assert (code, out) == (0, "deleted 1 job record\n")  # the failed one; running/pending stay
    with open_store(tmp_path) as s:
        assert [j.job_id for j in s.list_jobs()] == [ids["running"], ids["pending"]]


def test_watch_returns_when_jobs_have_ended(tmp_path: Path) -> None:
    ids = make_jobs(tmp_path)
    code, out, _, _ = invoke(tmp_path, ids["done"], "--watch", "--json")
    assert code == 0
    assert json.loads(out.splitlines()[-1])[0]["status"] == "Complete"
    code, _, _, _ = invoke(tmp_path, f"{ids['done']},{ids['failed']}", "--watch")
    assert code == 1  # a watched job did not complete


def test_watch_follows_a_background_job_to_the_end(tmp_path: Path) -> None:
    profile = write_fake_profile(tmp_path / "p", FakeSpec(files=20, sleep=0.05))
    req = BuildRequest(profile, tmp_path / "out")
    with open_store(tmp_path / "state") as store:
        jid = worker.start_background(store, req, build=FAKE_TARGET)
    code, out, _, _ = invoke(tmp_path / "state", jid, "--watch", "--json", "--interval", "0.1")
    assert code == 0
    snapshots = [json.loads(line)[0] for line in out.splitlines()]
    assert len(snapshots) >= 3
    assert snapshots[-1]["status"] == "Complete"
    percents = [s["percentage"] for s in snapshots]
    assert percents == sorted(percents)


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=10), st.integers(1, 3))
def test_ids_parse_from_commas_and_arguments(numbers: list[int], chunk: int) -> None:
    texts = [str(n) for n in numbers]
    args = [",".join(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    assert parse_ids(args) == list(dict.fromkeys(texts))


@given(st.lists(st.tuples(st.integers(0, 10**4), st.sampled_from("smhdw")), min_size=1))
def test_durations_add_up(parts: list[tuple[int, str]]) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = "".join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text) == timedelta(seconds=sum(n * seconds[u] for n, u in parts))


@pytest.mark.parametrize("bad", ["", "7", "d", "7x", "7d junk", "-1d"])
def test_bad_durations_are_usage_errors(bad: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_duration(bad)


@given(st.floats(0, 10**6))
def test_elapsed_is_short_and_readable(seconds: float) -> None:
    text = format_elapsed(seconds)
    assert len(text) <= 8
    assert text[-1] in "sm"


def test_prune_reaps_dead_jobs_first(tmp_path: Path) -> None:
    with open_store(tmp_path) as s:
        jid = s.create(BuildRequest(Path("/p"), Path("/o")), owner=dead_process(), status="Running")
    code, out, _, _ = invoke(tmp_path, "prune", "--older-than", "0s")
    assert (code, out) == (0, "deleted 1 job record\n")
    with pytest.raises(JobError, match=f"no job {jid}"), open_store(tmp_path) as s:
        s.get_one(jid)


def test_osbundle_tasks_runs_from_the_real_cli(tmp_path: Path) -> None:
    from osbundle.cli import app as cli

    assert any(g.name == "tasks" for g in cli.app.registered_groups)
    make_jobs(tmp_path)
    env = {**os.environ, "OSBUNDLE_HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", "osbundle", "tasks", "1", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)[0]["jobUID"] == "1"
    run = subprocess.run(
        [sys.executable, "-m", "osbundle", "tasks", "cancel", "1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 1
    assert run.stderr == "osbundle: error: job 1 has already ended (Complete); nothing to cancel\n"
