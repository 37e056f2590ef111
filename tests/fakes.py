"""Small stand-ins that tests of several modules share."""

from __future__ import annotations

import subprocess
import sys

from osbundle.jobs import procid
from osbundle.jobs.procid import ProcessId


class FakeClock:
    """A monotonic clock that moves only when a test sets `now`."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def dead_process() -> ProcessId:
    """The identity a process had before it exited (its pid may already be reused)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    ident = procid.identify(child.pid)
    child.wait()
    assert ident is not None
    return ident
