"""The seam between a running build and whoever watches it (terminal, JSON lines, job store).

The stages of a build and the share of the job's percentage each covers live here, so every
watcher shows the same percentage: a new stage is a row of `STAGE_BANDS` and a step in
`pipeline.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol

Clock = Callable[[], float]  # what watchers throttle by: time.monotonic, or a test's own
Stage = Literal["load", "collect", "render", "archive", "export"]

# Within a stage the share is filled in proportion to the bytes reported by `progress` (the
# archive stage dominates).
STAGE_BANDS: Mapping[str, tuple[int, int]] = {
    "load": (0, 2),
    "collect": (2, 5),
    "render": (5, 10),
    "archive": (10, 95),
    "export": (95, 99),
}


class BuildObserver(Protocol):
    """Called from the build's main thread. Keep every method cheap: `progress` runs per file."""

    def stage(self, name: Stage) -> None:
        """A new stage starts."""

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        """Payload bytes and files archived so far."""

    def should_stop(self) -> bool:
        """True when the build must stop (cancel requested); the build then raises Cancelled."""
        return False


class NullObserver:
    def stage(self, name: Stage) -> None:
        pass

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        pass

    def should_stop(self) -> bool:
        return False


class MultiObserver:
    """Fans every call out to several observers; stops when any of them says so."""

    def __init__(self, observers: Sequence[BuildObserver]) -> None:
        self._observers = tuple(observers)

    def stage(self, name: Stage) -> None:
        for o in self._observers:
            o.stage(name)

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        for o in self._observers:
            o.progress(bytes_done, bytes_total, files_done, files_total)

    def should_stop(self) -> bool:
        return any(o.should_stop() for o in self._observers)


def stage_percent(stage: str, bytes_done: int, bytes_total: int) -> int | None:
    """The job percentage for `stage` with `bytes_done` of `bytes_total`; None if unknown stage."""
    band = STAGE_BANDS.get(stage)
    if band is None:
        return None
    low, high = band
    if bytes_total <= 0:
        return low
    fraction = min(1.0, max(0.0, bytes_done / bytes_total))
    return low + int((high - low) * fraction)


class PercentTracker:
    """The job's percentage so far: follows stage and bytes, never goes down."""

    def __init__(self) -> None:
        self.stage = ""
        self.percent = 0
        self.counts = (0, 0, 0, 0)

    def enter(self, stage: str) -> int:
        self.stage = stage
        return self._bump(stage_percent(stage, 0, 0))

    def update(self, bytes_done: int, bytes_total: int, files_done: int, files_total: int) -> int:
        self.counts = (bytes_done, bytes_total, files_done, files_total)
        return self._bump(stage_percent(self.stage, bytes_done, bytes_total))

    def _bump(self, percent: int | None) -> int:
        if percent is not None and percent > self.percent:
            self.percent = percent
        return self.percent
