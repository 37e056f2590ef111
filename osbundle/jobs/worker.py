"""Running builds as jobs: in the foreground (`run_job`) or in a detached worker process.

`python -m osbundle.jobs.worker JOBID --state-dir DIR` is the background worker: it loads the
request from the job record, runs it, and records the result; it outlives the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

import osbundle
from osbundle.cli.progress import JobStoreObserver, MultiObserver
from osbundle.errors import Cancelled, JobError, OsbundleError
from osbundle.jobs import procid
from osbundle.jobs.record import Status, request_from_json
from osbundle.jobs.sqlite import DEFAULT_BUILD, JobStore, open_store, sweep_job_files
from osbundle.model import BuildRequest, BuildResult
from osbundle.observer import BuildObserver, NullObserver

BuildFn = Callable[[BuildRequest, BuildObserver, str], BuildResult]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SignalGuard(NullObserver):
    """Turns the first SIGINT/SIGTERM/SIGHUP into `Cancelled` raised in the main thread.

    Later signals are only recorded, so the cleanup that `Cancelled` sets off (removing the
    temporary bundle, recording the job) is not cut short. Inside `shield()` the first signal is
    recorded too, and the build sees it through `should_stop()` at its next check.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._shield_depth = 0
        self._previous: dict[int, object] = {}

    def install(self, signals: Sequence[signal.Signals]) -> None:
        for sig in signals:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = signum
        if first and self._shield_depth == 0:
            raise Cancelled(f"interrupted by {signal.Signals(signum).name}")

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        self._shield_depth += 1
        try:
            yield
        finally:
            self._shield_depth -= 1

    def should_stop(self) -> bool:
        return self.received is not None


_ACTIVE: SignalGuard | None = None


def install_signal_handlers(signals: Sequence[signal.Signals] = STOP_SIGNALS) -> SignalGuard:
    """Make SIGINT/SIGTERM/SIGHUP cancel the build (call from the main thread, before run_job).

    `run_job` shields its own bookkeeping from these signals. Undo with `restore_signal_handlers`.
    """
    global _ACTIVE  # noqa: PLW0603  (signal dispositions are process-wide; so is this)
    restore_signal_handlers()
    guard = SignalGuard()
    guard.install(signals)
    _ACTIVE = guard
    return guard


def restore_signal_handlers() -> None:
    global _ACTIVE  # noqa: PLW0603
    if _ACTIVE is not None:
        _ACTIVE.restore()
        _ACTIVE = None


def _shielded() -> contextlib.AbstractContextManager[None]:
    return _ACTIVE.shield() if _ACTIVE is not None else contextlib.nullcontext()


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
    build_fn = build if build is not None else _load_build(DEFAULT_BUILD)
    with _shielded():
        jid = _begin(store, request, job_id)
    sink = JobStoreObserver(store, jid, interval=interval)
    chain: list[BuildObserver] = [sink, *observers]
    if _ACTIVE is not None:
        chain.append(_ACTIVE)
    try:
        result = build_fn(request, MultiObserver(chain), jid)
    except BaseException as exc:
        with _shielded():
            _record_failure(store, jid, request, exc)
        if isinstance(exc, OsbundleError):
            exc.job_id = jid  # the failed result the CLI prints names the job too
        raise
    with _shielded():
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
        status, message = "Cancelled", str(exc) or "cancelled"
    elif isinstance(exc, OsbundleError):
        status, message = "Stopped_With_Error", str(exc)
    else:
        status, message = "Stopped_With_Error", f"internal error: {type(exc).__name__}: {exc}"
    sweep_job_files(request.outdir, jid)
    result = {"filename": "", "jobID": jid, "result": "failed", "messages": [message]}
    store.finish(jid, status, result=result, messages=[message])


def _load_build(target: str) -> BuildFn:
    """`module:function` -> the function; the job record names the build it runs."""
    module_name, _, attr = target.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise JobError(f"cannot load the build function {target}: {exc}") from exc
    if not callable(fn):
        raise JobError(f"the build function {target} is not callable")
    return fn  # type: ignore[no-any-return]


_CHILDREN: list[subprocess.Popen[bytes]] = []


def start_background(
    request: BuildRequest, state_dir: Path | None = None, *, build: str = DEFAULT_BUILD
) -> str:
    """Create a Pending job and start a detached worker for it; returns the job id at once."""
    _reap_children()
    with open_store(state_dir) as store:
        job_id = store.create(
            request, owner=procid.current(), status="Pending", background=True, build=build
        )
        log = store.log_path(job_id)
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("ab") as out:
                child = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "osbundle.jobs.worker",
                        job_id,
                        "--state-dir",
                        str(store.state_dir),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                    cwd=store.state_dir,
                    env=_worker_env(),
                )
        except OSError as exc:
            message = f"cannot start a background worker: {exc}"
            failed = {"filename": "", "jobID": job_id, "result": "failed", "messages": [message]}
            store.finish(job_id, "Stopped_With_Error", result=failed, messages=[message])
            raise JobError(message) from exc
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
    parser = argparse.ArgumentParser(prog="python -m osbundle.jobs.worker")
    parser.add_argument("job_id")
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    install_signal_handlers((signal.SIGINT, signal.SIGTERM))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with open_store(args.state_dir) as store:
            run_pending(store, args.job_id)
    except OsbundleError as exc:
        print(f"osbundle worker: job {args.job_id}: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def run_pending(store: JobStore, job_id: str) -> None:
    """Run the pending job `job_id` from its stored request (the worker's whole job)."""
    job = store.get_one(job_id)
    if job.status != "Pending":
        return  # cancelled before the worker got here: nothing to do
    try:
        build = _load_build(job.build)
        request = request_from_json(job.request)
    except JobError as exc:
        if store.start(job_id, procid.current()):
            failed = {"filename": "", "jobID": job_id, "result": "failed", "messages": [str(exc)]}
            store.finish(job_id, "Stopped_With_Error", result=failed, messages=[str(exc)])
        raise
    run_job(store, request, build=build, job_id=job_id)


if __name__ == "__main__":
    sys.exit(main())
