"""An in-memory Destination: the fake the pipeline and service tests stream bundles into.

It keeps the Destination contract (destinations/base.py) without a file system: a name is
claimed once at a time, nothing is published before `commit`, `discard` leaves nothing, and
`commit` publishes the bundle and its checksum together.
"""

from __future__ import annotations

import io

from osbundle.errors import BuildError


class MemoryUpload:
    def __init__(self, destination: MemoryDestination, name: str, job_id: str) -> None:
        self._destination = destination
        self._name = name
        self.job_id = job_id
        self.buffer = io.BytesIO()
        self.done = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def file(self) -> io.BytesIO:
        return self.buffer

    @property
    def location(self) -> str:
        return f"memory:{self._name}"

    def commit(self, checksum: bytes) -> None:
        published = self._destination.published
        if self._name in published and not self._destination.force:
            raise BuildError(f"{self._name} already exists (use --force to overwrite it)")
        published[self._name] = self.buffer.getvalue()
        published[self._name + ".sha256"] = checksum
        self._finish()

    def discard(self) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self.done:
            self.done = True
            self._destination.claimed.discard(self._name)


class MemoryDestination:
    def __init__(self) -> None:
        self.published: dict[str, bytes] = {}
        self.claimed: set[str] = set()
        self.opened: list[MemoryUpload] = []
        self.swept: list[str] = []
        self.force = False

    def open(self, name: str, job_id: str, *, force: bool) -> MemoryUpload:
        if name in self.claimed:
            raise BuildError(f"another build is writing {name} right now")
        if name in self.published and not force:
            raise BuildError(f"{name} already exists (use --force to overwrite it)")
        self.force = force
        self.claimed.add(name)
        upload = MemoryUpload(self, name, job_id)
        self.opened.append(upload)
        return upload

    def sweep(self, job_id: str) -> list[str]:
        self.swept.append(job_id)
        return []
