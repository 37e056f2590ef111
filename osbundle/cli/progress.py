"""Build observers for people and machines: a rich progress bar, JSON lines, the job store.

Every observer here is called from the build's main thread, per archived block or file, so each
`progress` call does a few comparisons and returns unless enough has changed to be worth showing.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol, TextIO

from osbundle.observer import BuildObserver, NullObserver

ProgressMode = Literal["auto", "json", "none"]
Clock = Callable[[], float]

# The share of the job's percentage each pipeline stage covers; within a stage the share is
# filled in proportion to the bytes reported by `progress` (the archive stage dominates).
STAGE_BANDS: Mapping[str, tuple[int, int]] = {
    "load": (0, 2),
    "collect": (2, 5),
    "render": (5, 10),
    "archive": (10, 95),
    "export": (95, 99),
}


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


class ProgressSink(Protocol):
    """What JobStoreObserver needs from the job store (jobs.JobStore has it)."""

    def record_progress(
        self, job_id: str, stage: str, percentage: int, counts: tuple[int, int, int, int]
    ) -> None: ...

    def cancel_requested(self, job_id: str) -> bool: ...


class JobStoreObserver:
    """Keeps a job's stage and percentage current in the store, and reads its cancel flag.

    Writes on every stage change, otherwise only when the whole percentage moved and at least
    `interval` seconds passed; reads the cancel flag at most every `poll` seconds.
    """

    def __init__(
        self,
        sink: ProgressSink,
        job_id: str,
        *,
        interval: float = 0.5,
        poll: float = 0.25,
        clock: Clock = time.monotonic,
    ) -> None:
        self._sink = sink
        self._job_id = job_id
        self._interval = interval
        self._poll = poll
        self._clock = clock
        self._tracker = PercentTracker()
        self._written = -1
        self._last_write = float("-inf")
        self._last_poll = float("-inf")
        self._stop = False
        self.writes = 0

    def stage(self, name: str) -> None:
        self._tracker.enter(name)
        self._write()

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        percent = self._tracker.update(bytes_done, bytes_total, files_done, files_total)
        if percent > self._written and self._clock() - self._last_write >= self._interval:
            self._write()

    def should_stop(self) -> bool:
        if not self._stop and self._clock() - self._last_poll >= self._poll:
            self._last_poll = self._clock()
            self._stop = self._sink.cancel_requested(self._job_id)
        return self._stop

    def _write(self) -> None:
        t = self._tracker
        self._sink.record_progress(self._job_id, t.stage, t.percent, t.counts)
        self._written = t.percent
        self._last_write = self._clock()
        self.writes += 1


class JsonLinesProgress:
    """One JSON object per line (`--progress json`): at each stage and each whole percent."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tracker = PercentTracker()
        self._emitted = -1

    def stage(self, name: str) -> None:
        self._tracker.enter(name)
        self._emit()

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        if self._tracker.update(bytes_done, bytes_total, files_done, files_total) > self._emitted:
            self._emit()

    def should_stop(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def _emit(self) -> None:
        t = self._tracker
        bytes_done, bytes_total, files_done, files_total = t.counts
        record = {
            "stage": t.stage,
            "bytesDone": bytes_done,
            "bytesTotal": bytes_total,
            "filesDone": files_done,
            "filesTotal": files_total,
            "percent": t.percent,
        }
        self._stream.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._stream.flush()
        self._emitted = t.percent


class TerminalProgress:
    """A rich progress bar on a terminal: stage, bytes, files, throughput, ETA."""

    def __init__(
        self, stream: TextIO, *, interval: float = 0.1, clock: Clock = time.monotonic
    ) -> None:
        from rich.console import Console  # rich is slow to import; only a terminal bar needs it
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._interval = interval
        self._clock = clock
        self._last = float("-inf")
        self._progress = Progress(
            TextColumn("{task.description:<8}"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[files]}"),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            # Redrawn from the build's own calls, not by a refresh thread: the build forks reader
            # processes, which is only safe while no other thread runs (readers.py).
            auto_refresh=False,
        )
        self._task = self._progress.add_task("start", total=None, files="")
        self._progress.start()

    def stage(self, name: str) -> None:
        self._progress.update(self._task, description=name, refresh=True)

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        now = self._clock()
        if now - self._last < self._interval and bytes_done < bytes_total:
            return
        self._last = now
        self._progress.update(
            self._task,
            completed=bytes_done,
            total=bytes_total or None,
            files=f"{files_done}/{files_total} files",
            refresh=True,
        )

    def should_stop(self) -> bool:
        return False

    def close(self) -> None:
        self._progress.stop()


class Silent(NullObserver):
    def close(self) -> None:
        pass


class StageLines(Silent):
    """Not animated (NO_COLOR, TERM=dumb): one line per stage."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def stage(self, name: str) -> None:
        self._stream.write(f"osbundle: {name}\n")
        self._stream.flush()


Reporter = JsonLinesProgress | TerminalProgress | StageLines | Silent


def animation_allowed(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """A terminal that has not asked for plain output (NO_COLOR, TERM=dumb)."""
    return _isatty(stream) and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"


def make_progress(
    mode: ProgressMode,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> Reporter:
    """The observer for `--progress MODE` on `stream` (stderr); call `close()` when done.

    auto: a bar on an animated terminal, stage lines on a plain one, nothing otherwise.
    """
    out = sys.stderr if stream is None else stream
    env = os.environ if environ is None else environ
    if mode == "json":
        return JsonLinesProgress(out)
    if mode == "none" or not _isatty(out):
        return Silent()
    if animation_allowed(out, env):
        return TerminalProgress(out)
    return StageLines(out)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class MultiObserver:
    """Fans every call out to several observers; stops when any of them says so."""

    def __init__(self, observers: Sequence[BuildObserver]) -> None:
        self._observers = tuple(observers)

    def stage(self, name: str) -> None:
        for o in self._observers:
            o.stage(name)

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        for o in self._observers:
            o.progress(bytes_done, bytes_total, files_done, files_total)

    def should_stop(self) -> bool:
        return any(o.should_stop() for o in self._observers)
