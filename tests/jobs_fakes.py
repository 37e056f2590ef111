"""Stand-ins for the build pipeline, importable by background workers (FAKE_TARGET).

A fake build behaves like the real one towards the job machinery: stages, byte progress,
`should_stop` polling, a `.<bundle>.tmp-<jobID>` file while it writes, an atomic rename at the end.
Its behaviour comes from `fake.json` in the "profile" directory. With `hold_at` it stops before
that file and waits, polling `should_stop`, until the test calls `release`: tests wait for
events, not for time to pass.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from osbundle.errors import BuildError, Cancelled
from osbundle.jobs.store import open_store
from osbundle.model import BuildRequest, BuildResult
from osbundle.observer import BuildObserver

FAKE_TARGET = "tests.jobs_fakes:fake_build"
TESTS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class FakeSpec:
    files: int = 4
    size: int = 1024
    sleep: float = 0.0  # seconds per file
    fail: str = ""  # raise BuildError(fail) after archiving
    crash: bool = False  # raise ValueError after archiving
    leave_temp: bool = False  # do not clean up the temp file on failure (run_job must)
    name: str = "fake"
    hold_at: int = -1  # before this file, wait until released (or asked to stop)


GATE = "go"
HOLD_POLL_S = 0.01


def release(profile_dir: Path) -> None:
    """Let a fake build that holds go on."""
    (profile_dir / GATE).write_text("")


def hold(profile_dir: Path, observer: BuildObserver, counts: tuple[int, int, int, int]) -> None:
    """Wait for the gate; meanwhile report the same progress, as a build inside a large member
    does, so the job store's throttled writes catch up with it."""
    while not (profile_dir / GATE).exists():
        if observer.should_stop():
            raise Cancelled("cancel requested")
        observer.progress(*counts)
        time.sleep(HOLD_POLL_S)


def write_fake_profile(directory: Path, spec: FakeSpec) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fake.json").write_text(json.dumps(spec.__dict__))
    return directory


def fake_build(request: BuildRequest, observer: BuildObserver, job_id: str) -> BuildResult:
    spec = FakeSpec(**json.loads((request.profile_dir / "fake.json").read_text()))
    for stage in ("load", "collect", "render"):
        observer.stage(stage)
    filename = f"19800101000000_{spec.name}.tar.gz"
    request.outdir.mkdir(parents=True, exist_ok=True)
    final = request.outdir / filename
    temp = request.outdir / f".{filename}.tmp-{job_id}"
    observer.stage("archive")
    total = spec.files * spec.size
    try:
        with temp.open("wb") as out:
            for i in range(spec.files):
                if i == spec.hold_at:
                    hold(request.profile_dir, observer, (i * spec.size, total, i, spec.files))
                if observer.should_stop():
                    raise Cancelled("cancel requested")
                out.write(b"x" * spec.size)
                out.flush()
                observer.progress((i + 1) * spec.size, total, i + 1, spec.files)
                time.sleep(spec.sleep)
        if spec.fail:
            raise BuildError(spec.fail)
        if spec.crash:
            raise ValueError("boom")
        observer.stage("export")
        os.replace(temp, final)
    except BaseException:
        if not spec.leave_temp:
            temp.unlink(missing_ok=True)
        raise
    return BuildResult(
        filename=filename, job_id=job_id, result="success", messages=(), path=str(final), size=total
    )


def hammer(state_dir: str, writer: int, shared_job: str, own_job: str, updates: int) -> None:
    """One of the concurrent writers: progress on its own job, messages on a shared one."""
    with open_store(Path(state_dir)) as store:
        for i in range(updates):
            store.record_progress(own_job, "archive", i * 100 // updates, (i + 1, updates, i, 0))
            store.add_message(shared_job, f"{writer}:{i}")
