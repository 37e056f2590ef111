"""Keeping a running job's stage and percentage in the job store, and reading its cancel flag."""

from __future__ import annotations

import time
from typing import Protocol

from osbundle.observer import Clock, PercentTracker


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
