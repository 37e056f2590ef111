"""Export stage: a bundle is written under a temporary name and appears at its final path only
when complete (fsync, then a no-clobber link or, with --force, an atomic rename)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from osbundle.errors import BuildError
from osbundle.interrupts import signals_held

# Archive member mtime when SOURCE_DATE_EPOCH is unset: 1980-01-01T00:00:00Z (zip's epoch, and
# what other reproducible-build tools use), so that unset builds are reproducible too.
DEFAULT_EPOCH = 315532800


def bundle_filename(profile_name: str, epoch: float) -> str:
    """`<YYYYMMDDHHMMSS UTC>_<profile-name>.tar.gz`, as the appliance names exports."""
    return f"{time.strftime('%Y%m%d%H%M%S', time.gmtime(epoch))}_{profile_name}.tar.gz"


def temp_name(filename: str, job_id: str) -> str:
    """The name a bundle has while it is written; the job store sweeps these for dead jobs."""
    return f".{filename}.tmp-{job_id or os.getpid()}"


@dataclass
class Output:
    """A bundle being written: `file` is open on `temp`; `lock_fd` holds the output's lock
    until `release()` (idempotent, so commit and discard can both call it)."""

    final: Path
    temp: Path
    lock: Path
    lock_fd: int
    file: BinaryIO

    @property
    def checksum_final(self) -> Path:
        return self.final.with_name(self.final.name + ".sha256")

    @property
    def checksum_temp(self) -> Path:
        return self.temp.with_name(self.temp.name + ".sha256")

    def release(self) -> None:
        if self.lock_fd >= 0:
            release_lock(self.lock, self.lock_fd)
            self.lock_fd = -1


def open_output(outdir: Path, filename: str, job_id: str, *, force: bool) -> Output:
    """Claim `outdir/filename` for this build and open its temporary file.

    Fails fast if the output exists (without `force`) or another build is writing it.
    """
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BuildError(f"cannot create output directory {outdir}: {exc.strerror}") from exc
    final = outdir / filename
    if not force and (final.exists() or final.is_symlink()):
        raise BuildError(f"{final} already exists (use --force to overwrite it)")
    lock = outdir / f".{filename}.lock"
    lock_fd = acquire_lock(lock, final)
    temp = outdir / temp_name(filename, job_id)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        release_lock(lock, lock_fd)
        raise BuildError(f"cannot write in {outdir}: {exc.strerror}") from exc
    return Output(final, temp, lock, lock_fd, os.fdopen(fd, "wb", buffering=0))


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


def commit_output(output: Output, sha256: str, *, force: bool) -> None:
    """Make the finished bundle and its `.sha256` appear at their final paths."""
    try:
        output.file.flush()
        os.fsync(output.file.fileno())
        output.file.close()
        write_synced(output.checksum_temp, f"{sha256}  {output.final.name}\n".encode())
        with signals_held():  # the bundle does not appear without its .sha256
            publish(output.temp, output.final, force=force)
            publish(output.checksum_temp, output.checksum_final, force=True)
            fsync_dir(output.final.parent)
    except OSError as exc:
        raise BuildError(describe_os_error(exc, output.final)) from exc
    finally:
        output.release()


def discard_output(output: Output) -> None:
    """Remove everything this build wrote; safe to call after a failure at any point."""
    with contextlib.suppress(OSError):
        output.file.close()
    for path in (output.temp, output.checksum_temp):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    output.release()


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
