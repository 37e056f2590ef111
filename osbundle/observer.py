"""The seam between a running build and whoever watches it (terminal, JSON lines, job store)."""

from __future__ import annotations

from typing import Protocol


class BuildObserver(Protocol):
    """Called from the build's main thread. Keep every method cheap: `progress` runs per file."""

    def stage(self, name: str) -> None:
        """A new stage starts: load, collect, render, archive, export."""

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        """Payload bytes and files archived so far."""

    def should_stop(self) -> bool:
        """True when the build must stop (cancel requested); the build then raises Cancelled."""
        return False


class NullObserver:
    def stage(self, name: str) -> None:
        pass

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        pass

    def should_stop(self) -> bool:
        return False
