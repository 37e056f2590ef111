"""The Destination protocol: where a build streams its bundle, and how it appears there.

One build: `open` claims the bundle's name and returns an `Upload`; the archiver writes the gzip
stream to `upload.file` as it produces it (no local copy is needed on the way); `commit`
publishes the bundle together with its checksum file, so that neither appears half-written or
without the other; `discard` removes whatever the build wrote, safe after a failure at any
point. `sweep(job_id)` removes what a job whose process died left behind. The local directory
is `local.py`; remote file servers implement the same protocol beside it.
"""

from __future__ import annotations

from typing import Protocol

from osbundle.model import ByteSink


class Upload(Protocol):
    """One bundle on its way to a destination."""

    @property
    def name(self) -> str:
        """The bundle's file name, `<timestamp>_<profile-name>.tar.gz`."""

    @property
    def file(self) -> ByteSink:
        """Where the archive's bytes go; a write error names the destination (BuildError)."""

    @property
    def location(self) -> str:
        """Where the bundle is once committed: an absolute path, or a URL."""

    def commit(self, checksum: bytes) -> None:
        """Publish the bundle and, beside it, `<name>.sha256` holding `checksum`. On failure
        nothing is left at either final name; on success call `interrupts.settle()` while the
        stop signals are still held (from then on the build is past the point of no return)."""

    def discard(self) -> None:
        """Remove everything this upload wrote; idempotent."""


class Destination(Protocol):
    def open(self, name: str, job_id: str, *, force: bool) -> Upload:
        """Claim `name` for job `job_id`; BuildError if it exists (without `force`) or another
        build is writing it."""

    def sweep(self, job_id: str) -> list[str]:
        """Remove what job `job_id` left if its process died; returns what was removed."""
