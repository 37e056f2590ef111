"""The one API for builds and jobs: what the CLI calls, and what the REST server will call.

Submit a build as a job in this process or in a background worker, read jobs, wait for them,
cancel, delete and prune them, fetch a job's result. No build logic lives here (that is
pipeline.py, run by jobs/worker.py) and nothing is printed (that is cli/). The service is also
where the housekeeping that reading implies happens: before jobs are read, those whose worker
died are marked Interrupted and what they left at their destination is swept.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from osbundle.destinations.resolve import destination_for
from osbundle.errors import JobError
from osbundle.jobs import procid, worker
from osbundle.jobs.record import Job, request_from_json
from osbundle.jobs.store import JobStore, open_store
from osbundle.model import BuildRequest, BuildResult
from osbundle.observer import BuildObserver

WAIT_POLL_S = 0.1


def state_directory(state_dir: Path | None, environ: Mapping[str, str] | None = None) -> Path:
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
def open_service(state_dir: Path | None = None) -> Iterator[Service]:
    """The service on the job store of `state_directory(state_dir)`, closed at the end."""
    with open_store(state_directory(state_dir)) as store:
        yield Service(store)


class Service:
    """Builds and jobs over one job store. `build` is the `module:function` a job runs: the
    pipeline, unless a test puts a fake in its place."""

    def __init__(self, store: JobStore, *, build: str = worker.DEFAULT_BUILD) -> None:
        self.store = store
        self._build = build

    # -- builds ---------------------------------------------------------------------------

    def run(self, request: BuildRequest, observers: Sequence[BuildObserver] = ()) -> BuildResult:
        """Build now, in this process, as a job; the build's error is raised once recorded."""
        return worker.run_job(
            self.store, request, build=worker.load_build(self._build), observers=observers
        )

    def submit(self, request: BuildRequest) -> str:
        """Start the build as a background job; its id, at once."""
        return worker.start_background(self.store, request, build=self._build)

    # -- jobs -----------------------------------------------------------------------------

    def jobs(self, job_ids: Sequence[str] = ()) -> list[Job]:
        """The named jobs in the order asked, or every job; JobError for an unknown id."""
        self._reap()
        return self.store.get(job_ids) if job_ids else self.store.list_jobs()

    def job(self, job_id: str) -> Job:
        return self.jobs([job_id])[0]

    def result(self, job_id: str) -> BuildResult | None:
        """What the job answered, in the appliance's shape; None while it has not ended."""
        job = self.job(job_id)
        if job.active or job.result is None:
            return None
        return BuildResult.from_json(job.result)

    def wait(self, job_ids: Sequence[str], timeout: float) -> list[Job]:
        """The jobs once none of them is active any more, or when `timeout` seconds passed."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = self.jobs(job_ids)
            if not any(j.active for j in jobs) or time.monotonic() >= deadline:
                return jobs
            time.sleep(WAIT_POLL_S)

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop; JobError if it does not exist or has already ended.

        A pending job is cancelled at once. A running one gets the flag its build polls, and
        its process SIGTERM for a build blocked where it does not poll (never a recycled pid).
        """
        self._reap()
        job = self.store.request_cancel(job_id)
        if job.status == "Running":
            procid.send_signal(job.owner, signal.SIGTERM)
        return job

    def delete(self, job_id: str) -> Job:
        """Remove an ended job's record (not its bundle); JobError if it is still active."""
        self._reap()
        job = self.store.delete(job_id)
        if job.status != "Complete":
            self._sweep(job)
        return job

    def prune(self, older_than: timedelta) -> list[str]:
        """Delete the records of jobs that ended at least `older_than` ago; returns their ids."""
        self._reap()
        return self.store.prune(older_than)

    def _reap(self) -> None:
        for job in self.store.reap():
            self._sweep(job)

    def _sweep(self, job: Job) -> None:
        try:
            request = request_from_json(job.request)
        except JobError:
            return  # a record too damaged to say where its files went
        destination_for(request).sweep(job.job_id)
