"""Running builds as jobs: in this process (`run_job`) or in a detached worker process.

`python -m osbundle.jobs.worker JOBID --state-dir DIR` is the background worker: it loads the
request from the job record, runs it, and records the result; it outlives the terminal. Which
build it runs is `--build module:function` (the pipeline unless a test substitutes a fake): a
parameter of the process, never something read from the job store.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import osbundle
from osbundle import interrupts
from osbundle.destinations.resolve import destination_for
from osbundle.errors import Cancelled, JobError, OsbundleError
from osbundle.jobs import procid
from osbundle.jobs.progress import JobStoreObserver
from osbundle.jobs.record import Status, request_from_json
from osbundle.jobs.statedir import open_log
from osbundle.jobs.store import JobStore, open_store
from osbundle.model import BuildRequest, BuildResult
from osbundle.observer import BuildObserver, MultiObserver

BuildFn = Callable[[BuildRequest, BuildObserver, str], BuildResult]
DEFAULT_BUILD = "osbundle.pipeline:build_bundle"


def run_job(
    store: JobStore,
    request: BuildRequest,
    *,
    build: BuildFn | None = None,
    observers: Sequence[BuildObserver] = (),
    job_id: str | None = None,
    interval: float = 0.5,
) -> BuildResult:
    """Run one build as a job and record how it ended; returns the build's result.

    Without `job_id` a new Running job owned by this process is created; with it, the pending
    job `job_id` is started (JobError if it is no longer pending, e.g. cancelled meanwhile).
    The build's exception (Cancelled, BuildError, InputError, ...) is re-raised once recorded.
    """
    build_fn = build if build is not None else load_build(DEFAULT_BUILD)
    with interrupts.shielded():
        interrupts.rearm()  # the previous job in this process may have settled the guard
        jid = _begin(store, request, job_id)
    chain: list[BuildObserver] = [JobStoreObserver(store, jid, interval=interval), *observers]
    guard = interrupts.active_guard()
    if guard is not None:
        chain.append(guard)
    try:
        result = build_fn(request, MultiObserver(chain), jid)
    except BaseException as exc:
        with interrupts.shielded():
            _record_failure(store, jid, request, exc)
        if isinstance(exc, OsbundleError):
            exc.job_id = jid  # the failed result the CLI prints names the job too
        raise
    with interrupts.shielded():
        status: Status = "Complete" if result.result == "success" else "Stopped_With_Error"
        store.finish(jid, status, result=result.to_json(), output=result.path or None)
    return result


def _begin(store: JobStore, request: BuildRequest, job_id: str | None) -> str:
    if job_id is None:
        return store.create(request, owner=procid.current(), status="Running")
    if not store.start(job_id, procid.current()):
        job = store.get_one(job_id)
        raise JobError(f"job {job_id} is {job.status}, not Pending; not started")
    return job_id


def _record_failure(store: JobStore, jid: str, request: BuildRequest, exc: BaseException) -> None:
    status: Status
    if isinstance(exc, Cancelled | KeyboardInterrupt):
        # `tasks cancel` sets the flag and then signals the build: it stops with the signal's
        # "interrupted by SIGTERM", which is not what happened.
        requested = _cancel_requested(store, jid)
        status, message = "Cancelled", CANCEL_REQUESTED if requested else str(exc) or "cancelled"
    elif isinstance(exc, OsbundleError):
        status, message = "Stopped_With_Error", str(exc)
    elif isinstance(exc, MemoryError):  # the machine's limit, not a bug: as the CLI says it
        status, message = "Stopped_With_Error", "out of memory while building"
    else:
        status, message = "Stopped_With_Error", f"internal error: {type(exc).__name__}: {exc}"
    destination_for(request).sweep(jid)  # a build that failed to clean up after itself
    fail(store, jid, status, message)


CANCEL_REQUESTED = "cancelled by `osbundle tasks cancel`"


def _cancel_requested(store: JobStore, jid: str) -> bool:
    try:
        return store.cancel_requested(jid)
    except OsbundleError:  # an unusable store: the signal's own message will do
        return False


def fail(store: JobStore, job_id: str, status: Status, message: str) -> None:
    """End a job that did not complete, with the one failed result shape."""
    result = BuildResult.failed(message, job_id).to_json()
    store.finish(job_id, status, result=result, messages=[message])


def load_build(target: str) -> BuildFn:
    """`module:function` -> the function."""
    module_name, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise JobError(f"cannot load the build function {target}: {exc}") from exc
    if not callable(fn):
        raise JobError(f"the build function {target} is not callable")
    return fn  # type: ignore[no-any-return]


_CHILDREN: list[subprocess.Popen[bytes]] = []


def start_background(store: JobStore, request: BuildRequest, *, build: str = DEFAULT_BUILD) -> str:
    """Create a Pending job and start a detached worker for it; returns the job id at once."""
    _reap_children()
    job_id = store.create(request, owner=procid.current(), status="Pending", background=True)
    log = store.log_path(job_id)
    command = [sys.executable, "-m", "osbundle.jobs.worker", job_id]
    command += ["--state-dir", str(store.state_dir), "--build", build]
    try:
        out = open_log(log)
    except JobError as exc:
        fail(store, job_id, "Stopped_With_Error", str(exc))
        raise
    try:
        child = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            cwd=store.state_dir,
            env=_worker_env(),
        )
    except OSError as exc:
        message = f"cannot start a background worker: {exc}"
        fail(store, job_id, "Stopped_With_Error", message)
        raise JobError(message) from exc
    finally:
        os.close(out)
    _CHILDREN.append(child)
    owner = procid.identify(child.pid)
    if owner is not None:
        store.set_owner(job_id, owner)
    return job_id


def _worker_env() -> dict[str, str]:
    """The caller's environment, with this osbundle first on the path so the worker runs it."""
    env = dict(os.environ)
    root = str(Path(osbundle.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


def _reap_children() -> None:
    # Workers started by this process (long-lived callers, tests) are reaped here, not leaked
    # as zombies; a short-lived CLI exits first and init reaps them.
    _CHILDREN[:] = [c for c in _CHILDREN if c.poll() is None]


def main(argv: Sequence[str] | None = None) -> int:
    """The worker process: exit 0 when the job completed, else the error's exit code."""
    import argparse  # only the worker process parses arguments this way

    parser = argparse.ArgumentParser(prog="python -m osbundle.jobs.worker")
    parser.add_argument("job_id")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--build", default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    interrupts.install_signal_handlers((signal.SIGINT, signal.SIGTERM))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the terminal that started it may go away
    try:
        with open_store(args.state_dir) as store:
            run_pending(store, args.job_id, args.build)
    except OsbundleError as exc:
        print(f"osbundle worker: job {args.job_id}: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def run_pending(store: JobStore, job_id: str, build: str = DEFAULT_BUILD) -> None:
    """Run the pending job `job_id` from its stored request (the worker's whole job)."""
    job = store.get_one(job_id)
    if job.status != "Pending":
        return  # cancelled before the worker got here: nothing to do
    try:
        build_fn = load_build(build)
        request = request_from_json(job.request)
    except JobError as exc:
        if store.start(job_id, procid.current()):
            fail(store, job_id, "Stopped_With_Error", str(exc))
        raise
    run_job(store, request, build=build_fn, job_id=job_id)


if __name__ == "__main__":
    sys.exit(main())
