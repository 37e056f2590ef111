"""What the job store costs a build: per-call costs of its observer and calls per real build.

    python bench/progress_overhead.py

The percentage a job shows moves as bytes are archived (JobStoreObserver.progress on every
file and every 4 MiB, a database write at most every 0.5 s); this prints what that costs per
call, how many calls a build of 64 x 4 MiB + 2,000 small files makes, and the resulting share
of that build's wall time.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from osbundle.jobs import procid
from osbundle.jobs.progress import JobStoreObserver
from osbundle.jobs.store import open_store
from osbundle.model import BuildRequest
from osbundle.observer import NullObserver
from osbundle.pipeline import build_bundle
from tests.factory import make_profile

N = 200_000


class Counter(NullObserver):
    def __init__(self) -> None:
        self.progress_calls = 0
        self.stop_calls = 0

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        self.progress_calls += 1

    def should_stop(self) -> bool:
        self.stop_calls += 1
        return False


def per_call_us(tmp: Path) -> tuple[float, float, float, float]:
    """(throttled progress, should_stop, database write, cancel-flag read) in microseconds."""
    with open_store(tmp / "state") as store:
        job = store.create(
            BuildRequest(tmp / "p", tmp / "o"), owner=procid.current(), status="Running"
        )
        observer = JobStoreObserver(store, job)
        observer.stage("archive")
        start = time.perf_counter()
        for i in range(N):
            observer.progress(i, 10**12, i, N)
        progress = (time.perf_counter() - start) / N * 1e6
        start = time.perf_counter()
        for _ in range(N):
            observer.should_stop()
        stop = (time.perf_counter() - start) / N * 1e6
        start = time.perf_counter()
        for i in range(2000):
            store.record_progress(job, "archive", i % 100, (i, 1, 1, 1))
        write = (time.perf_counter() - start) / 2000 * 1e6
        start = time.perf_counter()
        for _ in range(2000):
            store.cancel_requested(job)
        poll = (time.perf_counter() - start) / 2000 * 1e6
    return progress, stop, write, poll


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="osbundle-ovh-"))
    progress_us, stop_us, write_us, poll_us = per_call_us(tmp)
    files = {f"big/{i:02d}.bin": os.urandom(4 << 20) for i in range(64)}
    files |= {f"small/{i:04d}.txt": os.urandom(2000) for i in range(2000)}
    profile = make_profile(tmp / "profile", files, name="ovh")
    counter = Counter()
    start = time.perf_counter()
    build_bundle(BuildRequest(profile, tmp / "out", source_date_epoch=1), counter, "0")
    wall = time.perf_counter() - start
    writes = wall / 0.5 + 2  # at most one write per 0.5 s, plus start and end
    polls = wall / 0.25 + 1  # the cancel flag is read at most every 0.25 s
    cost = (
        counter.progress_calls * progress_us
        + counter.stop_calls * stop_us
        + writes * write_us
        + polls * poll_us
    )
    print(f"per call: progress {progress_us:.2f} us, should_stop {stop_us:.2f} us, "
          f"database write {write_us:.0f} us, cancel-flag read {poll_us:.0f} us")  # fmt: skip
    print(f"build of {len(files)} files ({wall:.2f} s): {counter.progress_calls} progress and "
          f"{counter.stop_calls} should_stop calls, <= {writes:.0f} writes")  # fmt: skip
    print(f"job-store overhead: {cost / 1e3:.1f} ms = {100 * cost / 1e6 / wall:.2f} % of the build")


if __name__ == "__main__":
    main()
