"""Where an interrupt has to wait.

The CLI turns SIGINT, SIGTERM and SIGHUP into `Cancelled`, raised wherever the main thread is
(worker.SignalGuard). A few steps must not be cut in half: claiming an output (a lock taken but
not yet recorded is never removed), starting a thread (CPython's `Thread.start` interrupted
corrupts the `threading` module's bookkeeping) or forking a reader (the child would not be
known to stop it). They run inside `signals_held()`, and the signal arrives right after.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """HELD_SIGNALS wait until the block ends (for this thread; then they arrive as usual)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def release_all() -> None:
    """In a forked child: no signal stays held from the parent's `signals_held()`."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
