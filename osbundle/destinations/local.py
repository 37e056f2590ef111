"""The local output directory: a bundle is written under a temporary name beside its final one
and appears only when complete (fsync, then a no-clobber link or, with --force, an atomic
rename), together with its `.sha256`.

Names in the output directory, for a bundle `B`: `.B.lock` (held by the build writing B),
`.B.tmp-<job>` and `.B.tmp-<job>.sha256` (what job <job> is writing), then `B` and `B.sha256`.
`sweep` knows them from here, so no other module spells them.

Nothing planted at any of these names is followed: both temporary files are created by `open`
with O_CREAT|O_EXCL|O_NOFOLLOW (a name that exists, a link included, is refused), the lock is
opened with O_NOFOLLOW|O_NONBLOCK and must be a regular file, and the final names are only ever
linked or renamed onto, never opened. Without --force an existing `B` or `B.sha256` is refused,
up front and again at publish time (a no-clobber link for each).

The order of publishing, so that a failed job leaves nothing at the final paths and a bundle at
its final path belongs to a job that completed: with signals held, link (or rename) `B.sha256`,
then `B`, then fsync the directory. If any of the three fails, whatever this build published is
unlinked again (only if it is still this build's file) before the error is raised, and the job
ends Stopped_With_Error with nothing at the final paths. With --force the old bundle was
replaced by the rename, so after such a failure neither the old nor the new bundle is there.
Once the directory fsync succeeded the build is settled (`interrupts.settle`): a stop signal is
only recorded, and the job is recorded Complete.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from osbundle.errors import BuildError
from osbundle.interrupts import settle, signals_held

CHECKSUM_SUFFIX = ".sha256"
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# A lock is not a secret: created if missing, but never through a link, and never a FIFO (which
# O_NONBLOCK keeps from hanging the open) or anything else but a regular file.
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
FileId = tuple[int, int]  # (st_dev, st_ino): which file a name must still be to be ours


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
        checksum = outdir / (name + CHECKSUM_SUFFIX)
        for path in () if force else (final, checksum):
            if path.exists() or path.is_symlink():
                raise BuildError(f"{path} already exists (use --force to overwrite it)")
        lock = outdir / lock_name(name)
        lock_fd = acquire_lock(lock, final)
        temp = outdir / temp_name(name, job_id)
        checksum_temp = temp.with_name(temp.name + CHECKSUM_SUFFIX)
        fd = checksum_fd = -1
        try:
            fd = create_exclusive(temp)
            checksum_fd = create_exclusive(checksum_temp)
        except BaseException:
            if fd >= 0:
                unlink_if_ours(temp, file_id(fd))
                os.close(fd)
            release_lock(lock, lock_fd)
            raise
        upload = LocalUpload(final, temp, lock, lock_fd, force, OutputFile(fd, final))
        upload.ids = {temp: file_id(fd), checksum_temp: file_id(checksum_fd)}
        upload.checksum_fd = checksum_fd
        return upload

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
    """A bundle being written: `file` is open on `temp`, `checksum_fd` on the checksum's temp
    file; `lock_fd` holds the output's lock until `release()` (idempotent, so commit and discard
    can both call it). `ids` maps every name this build created or published to its file."""

    final: Path
    temp: Path
    lock: Path
    lock_fd: int
    force: bool
    file: OutputFile
    checksum_fd: int = -1
    ids: dict[Path, FileId] = field(default_factory=dict)
    published: list[Path] = field(default_factory=list)

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
        """Make the finished bundle and its `.sha256` appear at their final paths (the order
        and what a failure leaves: the module docstring)."""
        try:
            self.file.sync_and_close()
            fd, self.checksum_fd = self.checksum_fd, -1
            write_synced(fd, checksum)
            with signals_held():  # the bundle does not appear without its .sha256
                self._publish()
                settle()
        except OSError as exc:
            raise BuildError(describe_os_error(exc, self.final)) from exc
        finally:
            self.release()

    def _publish(self) -> None:
        pairs = ((self.checksum_temp, self.checksum_final), (self.temp, self.final))
        try:
            for temp, final in pairs:
                self.ids[final] = self.ids[temp]
                self.published.append(final)
                publish(temp, final, force=self.force)
            fsync_dir(self.final.parent)
        except BaseException:
            self.unpublish()
            raise

    def unpublish(self) -> None:
        """Unlink what this build published (if each name is still its file)."""
        for path in reversed(self.published):
            unlink_if_ours(path, self.ids[path])
        self.published.clear()
        with contextlib.suppress(OSError):
            fsync_dir(self.final.parent)

    def discard(self) -> None:
        """Remove everything this build wrote; safe to call after a failure at any point."""
        with contextlib.suppress(OSError):
            self.file.close()
        if self.checksum_fd >= 0:
            os.close(self.checksum_fd)
            self.checksum_fd = -1
        for path in (self.temp, self.checksum_temp):
            if path in self.ids:
                unlink_if_ours(path, self.ids[path])
        self.release()

    def release(self) -> None:
        if self.lock_fd >= 0:
            release_lock(self.lock, self.lock_fd)
            self.lock_fd = -1


def create_exclusive(path: Path) -> int:
    """A new file at `path`; BuildError if anything (a link included) is already there."""
    try:
        return os.open(path, _CREATE_FLAGS, 0o666)
    except FileExistsError:
        raise BuildError(
            f"{path} already exists and was not created by this build; "
            "refusing to write through it (remove it if it is stale)"
        ) from None
    except OSError as exc:
        raise BuildError(f"cannot write in {path.parent}: {exc.strerror}") from exc


def file_id(fd: int) -> FileId:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def unlink_if_ours(path: Path, ours: FileId) -> None:
    with contextlib.suppress(OSError):
        st = os.lstat(path)
        if (st.st_dev, st.st_ino) == ours:
            path.unlink()


def acquire_lock(lock: Path, final: Path) -> int:
    # The holder unlinks the lock file when done; a lock taken on that unlinked inode would not
    # exclude a build that creates a fresh file, so re-check that we locked the live file.
    while True:
        fd = open_lock(lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise BuildError(f"another build is writing {final} right now") from None
        try:
            st = os.lstat(lock)
            if (st.st_dev, st.st_ino) == file_id(fd):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def open_regular(
    path: str | Path, flags: int, mode: int, *, dir_fd: int | None = None
) -> int | None:
    """`path` opened with `flags` (which hold O_NOFOLLOW, and O_NONBLOCK so that a FIFO cannot
    hang the open), or None when it is not a regular file: a link, a directory, a FIFO or a
    device. Any other OSError is raised."""
    try:
        fd = os.open(path, flags, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            return None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def open_lock(lock: Path, flags: int = _LOCK_FLAGS) -> int:
    """The lock file, opened without following a link; BuildError if it is not a regular file."""
    try:
        fd = open_regular(lock, flags, 0o666)
    except OSError as exc:
        raise BuildError(f"cannot write in {lock.parent}: {exc.strerror}") from exc
    if fd is None:
        raise BuildError(f"{lock} is not a regular file; refusing to use it as a lock")
    return fd


def release_lock(lock: Path, lock_fd: int) -> None:
    unlink_if_ours(lock, file_id(lock_fd))
    os.close(lock_fd)


def remove_stale_lock(lock: Path) -> bool:
    """Remove `lock` if no live build holds it (a dead job's)."""
    try:
        fd = open_lock(lock, _LOCK_FLAGS & ~os.O_CREAT)
    except (BuildError, OSError):
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


def write_synced(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd`, fsync and close it."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
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
