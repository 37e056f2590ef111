"""How a signal stops a build: the signals, the guard that turns them into `Cancelled`, and the
few steps an interrupt has to wait for.

A process that runs builds (the CLI, a background worker) calls `cancel_on_signals()`: the first
SIGINT, SIGTERM or SIGHUP then raises `Cancelled` wherever the main thread is, and the build
cleans up on its way out. A few steps must not be cut in half: claiming an output (a lock taken
but not yet recorded is never removed), starting a thread (CPython's `Thread.start` interrupted
corrupts the `threading` module's bookkeeping), forking a reader (the child would not be known
to stop it) or publishing a bundle (it must not appear without its `.sha256`). They run inside
`signals_held()`, and the signal arrives right after. The job bookkeeping around a build runs
`shielded()`: a signal there is only recorded, and seen by the build's next `should_stop()`.

Once a build has published its bundle it is past the point of no return: `settle()` (called
while signals are held, right after the publish) makes the next stop signal only recorded too,
until `rearm()` (the start of the next job), so a signal while the job is recorded Complete or
the result printed does not turn a finished build into a cancelled one.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator, Sequence
from types import FrameType

from osbundle.errors import Cancelled
from osbundle.observer import NullObserver

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """STOP_SIGNALS wait until the block ends (for this thread; then they arrive as usual)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def release_all() -> None:
    """In a forked child: no signal stays held from the parent's `signals_held()`."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_SETMASK, ())


class SignalGuard(NullObserver):
    """Turns the first stop signal into `Cancelled` raised in the main thread.

    Later signals are only recorded, so the cleanup that `Cancelled` sets off (removing the
    temporary bundle, recording the job) is not cut short. Inside `shield()` the first signal is
    recorded too, and the build sees it through `should_stop()` at its next check.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._shield_depth = 0
        self.settled = False
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
        if first and self._shield_depth == 0 and not self.settled:
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
    """Make `signals` cancel the build (from the main thread). Undo: `restore_signal_handlers`."""
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


@contextlib.contextmanager
def cancel_on_signals(signals: Sequence[signal.Signals] = STOP_SIGNALS) -> Iterator[SignalGuard]:
    """`install_signal_handlers` for the length of a block; inside another such block, the guard
    already installed serves (so the outer block is not left without one)."""
    if _ACTIVE is not None:
        yield _ACTIVE
        return
    guard = install_signal_handlers(signals)
    try:
        yield guard
    finally:
        restore_signal_handlers()


def active_guard() -> SignalGuard | None:
    """The installed guard, which a job's build also asks whether to stop."""
    return _ACTIVE


def settle() -> None:
    """Past the point of no return: the next stop signal is only recorded, until `rearm()`."""
    if _ACTIVE is not None:
        _ACTIVE.settled = True


def rearm() -> None:
    """A new job starts: a stop signal raises `Cancelled` again (unless one was recorded)."""
    if _ACTIVE is not None:
        _ACTIVE.settled = False


def shielded() -> contextlib.AbstractContextManager[None]:
    """A block a stop signal does not cut short (it is recorded for `should_stop`)."""
    return _ACTIVE.shield() if _ACTIVE is not None else contextlib.nullcontext()
