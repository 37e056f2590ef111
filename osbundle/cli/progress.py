"""How a build's progress is shown: a rich progress bar, stage lines, or JSON lines on stderr.

Every observer here is called from the build's main thread, per archived block or file, so each
`progress` call does a few comparisons and returns unless enough has changed to be worth showing.
Progress is never worth a build: a stream that cannot be written (a closed pipe, a terminal gone)
stops the display, and the build goes on.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal, TextIO

from osbundle.cli.streams import silence
from osbundle.observer import Clock, NullObserver, PercentTracker

ProgressMode = Literal["auto", "json", "none"]

# What writing to a stream that is gone raises: OSError (EPIPE, EIO), ValueError once closed.
UNWRITABLE = (OSError, ValueError)


def write_or_drop(stream: TextIO | None, text: str) -> TextIO | None:
    """Write and flush `text`; the stream to use next time, None once it cannot be written."""
    if stream is None:
        return None
    try:
        stream.write(text)
        stream.flush()
    except UNWRITABLE:
        silence(stream)
        return None
    return stream


class JsonLinesProgress:
    """One JSON object per line (`--progress json`): at each stage and each whole percent."""

    def __init__(self, stream: TextIO) -> None:
        self._stream: TextIO | None = stream
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
        self._stream = write_or_drop(self._stream, json.dumps(record, separators=(",", ":")) + "\n")
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

        class _QuietConsole(Console):
            def on_broken_pipe(self) -> None:
                # rich's own points stdout (not this stream) at /dev/null and exits the process.
                self.quiet = True
                raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

        self._stream = stream
        self._live = True
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
            console=_QuietConsole(file=stream),
            # Redrawn from the build's own calls, not by a refresh thread: the build forks reader
            # processes, which is only safe while no other thread runs (readers.py).
            auto_refresh=False,
        )
        self._task = self._progress.add_task("start", total=None, files="")
        self._progress.start()

    def stage(self, name: str) -> None:
        self._draw(description=name)

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        now = self._clock()
        if now - self._last < self._interval and bytes_done < bytes_total:
            return
        self._last = now
        self._draw(
            completed=bytes_done,
            total=bytes_total or None,
            files=f"{files_done}/{files_total} files",
        )

    def should_stop(self) -> bool:
        return False

    def close(self) -> None:
        if self._live:
            self._live = False
            try:
                self._progress.stop()
            except UNWRITABLE:
                silence(self._stream)

    def _draw(self, **fields: Any) -> None:
        if not self._live:
            return
        try:
            self._progress.update(self._task, refresh=True, **fields)
        except UNWRITABLE:  # the terminal went away: no more bar, the build goes on
            self._live = False
            silence(self._stream)


class Silent(NullObserver):
    def close(self) -> None:
        pass


class StageLines(Silent):
    """Not animated (NO_COLOR, TERM=dumb): one line per stage."""

    def __init__(self, stream: TextIO) -> None:
        self._stream: TextIO | None = stream

    def stage(self, name: str) -> None:
        self._stream = write_or_drop(self._stream, f"osbundle: {name}\n")


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
