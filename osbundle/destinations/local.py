"""The local output directory: a bundle is written under a temporary name beside its final one
and appears only when complete (fsync, then a no-clobber link or, with --force, an atomic
rename), together with its `.sha256`.

Names in the output directory, for a bundle `B`: `.B.lock` (held by the build writing B),
`.B.tmp-<job>` and `.B.tmp-<job>.sha256` (what job <job> is writing), then `B` and `B.sha256`.
`sweep` knows them from here, so no other module spells them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from osbundle.errors import BuildError
from osbundle.interrupts import signals_held

CHECKSUM_SUFFIX = ".sha256"


def temp_name(name: str, job_id: str) -> str:
    return f".{name}.tmp-{job_id or os.getpid()}"


def lock_name(name: str) -> str:
    return f".{name}.lock"


@dataclass(frozen=True)
class LocalDestination:
    """Bundles go to `outdir` (created when the first build claims a name in it)."""

    outdir: Path

    def open(self, name: str, job_id: str, *, force: bool) -> LocalUpload:
        """Claim `outdir/name` for this build and open its temporary file.

        Fails fast if the output exists (without `force`) or another build is writing it.
        """
        outdir = self.outdir
        try:
            outdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BuildError(f"cannot create output directory {outdir}: {exc.strerror}") from exc
        final = outdir / name
        if not force and (final.exists() or final.is_symlink()):
            raise BuildError(f"{final} already exists (use --force to overwrite it)")
        lock = outdir / lock_name(name)
        lock_fd = acquire_lock(lock, final)
        temp = outdir / temp_name(name, job_id)
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            release_lock(lock, lock_fd)
            raise BuildError(f"cannot write in {outdir}: {exc.strerror}") from exc
        return LocalUpload(final, temp, lock, lock_fd, force, OutputFile(fd, final))

    def sweep(self, job_id: str) -> list[str]:
        """Delete what a dead job left: `.<bundle>.tmp-<id>` (and its `.sha256`), and the
        bundle's lock file when no live build holds it."""
        removed: list[str] = []
        suffix = f".tmp-{job_id}"
        try:
            candidates = sorted(self.outdir.iterdir())
        except OSError:
            return removed
        for path in candidates:
            name = path.name
            if not name.startswith(".") or not name.endswith((suffix, suffix + CHECKSUM_SUFFIX)):
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(str(path))
            lock = self.outdir / f"{name[: -len(suffix)]}.lock"
            if name.endswith(suffix) and remove_stale_lock(lock):
                removed.append(str(lock))
        return removed


class OutputFile:
    """The temporary bundle file; an error writing it names the bundle, not the temp file."""

    def __init__(self, fd: int, final: Path) -> None:
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._final = final

    def write(self, data: bytes, /) -> int:
        view = memoryview(data)
        try:
            while view:  # an unbuffered write may take only part of a block
                view = view[self._file.write(view) :]
        except OSError as exc:
            raise BuildError(describe_os_error(exc, self._final)) from exc
        return len(data)

    def sync_and_close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def close(self) -> None:
        self._file.close()


@dataclass
class LocalUpload:
    """A bundle being written: `file` is open on `temp`; `lock_fd` holds the output's lock
    until `release()` (idempotent, so commit and discard can both call it)."""

    final: Path
    temp: Path
    lock: Path
    lock_fd: int
    force: bool
    file: OutputFile

    @property
    def name(self) -> str:
        return self.final.name

    @property
    def location(self) -> str:
        return str(self.final.resolve())

    @property
    def checksum_final(self) -> Path:
        return self.final.with_name(self.final.name + CHECKSUM_SUFFIX)

    @property
    def checksum_temp(self) -> Path:
        return self.temp.with_name(self.temp.name + CHECKSUM_SUFFIX)

    def commit(self, checksum: bytes) -> None:
        """Make the finished bundle and its `.sha256` appear at their final paths."""
        try:
            self.file.sync_and_close()
            write_synced(self.checksum_temp, checksum)
            with signals_held():  # the bundle does not appear without its .sha256
                publish(self.temp, self.final, force=self.force)
                publish(self.checksum_temp, self.checksum_final, force=True)
                fsync_dir(self.final.parent)
        except OSError as exc:
            raise BuildError(describe_os_error(exc, self.final)) from exc
        finally:
            self.release()

    def discard(self) -> None:
        """Remove everything this build wrote; safe to call after a failure at any point."""
        with contextlib.suppress(OSError):
            self.file.close()
        for path in (self.temp, self.checksum_temp):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.release()

    def release(self) -> None:
        if self.lock_fd >= 0:
            release_lock(self.lock, self.lock_fd)
            self.lock_fd = -1


def acquire_lock(lock: Path, final: Path) -> int:
    # The holder unlinks the lock file when done; a lock taken on that unlinked inode would not
    # exclude a build that creates a fresh file, so re-check that we locked the live file.
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise BuildError(f"cannot write in {lock.parent}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BuildError(f"another build is writing {final} right now") from None
        try:
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def release_lock(lock: Path, lock_fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        lock.unlink()
    os.close(lock_fd)


def remove_stale_lock(lock: Path) -> bool:
    """Remove `lock` if no live build holds it (a dead job's)."""
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False  # a live build holds it
    try:
        lock.unlink()
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def publish(temp: Path, final: Path, *, force: bool) -> None:
    if force:
        os.replace(temp, final)
        return
    try:
        os.link(temp, final)  # fails if final appeared meanwhile: never clobber without --force
    except FileExistsError:
        raise BuildError(f"{final} already exists (use --force to overwrite it)") from None
    temp.unlink()


def write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def describe_os_error(exc: OSError, target: Path) -> str:
    if exc.errno == errno.ENOSPC:
        return f"no space left on device while writing {target}"
    if exc.errno == errno.EDQUOT:
        return f"disk quota exceeded while writing {target}"
    return f"cannot write {target}: {exc.strerror or exc}"
