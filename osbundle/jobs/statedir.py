"""The state directory and the files osbundle creates in it, none of them through a planted name.

The state directory is created 0700 and must be a real directory (not a link) owned by this
user; a looser mode is tightened to 0700. The job database and its `-wal`, `-shm` and
`-journal` files must each be missing or a regular file (not a link) owned by this user, and a
missing database is created with O_CREAT|O_EXCL|O_NOFOLLOW before SQLite opens it.

Residual risk: SQLite opens those files by path and follows links, so a name swapped for a link
between the check and SQLite's open would be followed. Only this user (or root) can do that
once the directory is a private one of ours, which is why the directory is checked first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from osbundle.destinations.local import open_regular
from osbundle.errors import JobError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def prepare_state_dir(directory: Path) -> None:
    """Create `directory` (0700) if missing; JobError unless it is a private directory of ours."""
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
        fd = os.open(directory, _DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and directory.is_symlink():
            raise JobError(f"state directory {directory} is a symbolic link; refusing it") from exc
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise JobError(f"state directory {directory} is not a directory") from exc
        raise JobError(f"cannot create state directory {directory}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            raise JobError(f"state directory {directory} is not owned by this user; refusing it")
        if st.st_mode & 0o077:
            tighten(fd, st.st_mode, directory)
    finally:
        os.close(fd)


def tighten(fd: int, mode: int, directory: Path) -> None:
    """Make an older, looser state directory 0700 (on a read-only one, looser but not
    writable by others is still fine)."""
    try:
        os.fchmod(fd, 0o700)
    except OSError:
        if mode & 0o022:  # others could plant names in it
            message = f"state directory {directory} is writable by others; refusing it"
            raise JobError(message) from None


def prepare_database(path: Path) -> None:
    """Refuse planted SQLite files at `path` (and its companions); create `path` if missing."""
    check_database(path)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        check_own_file(path)  # another process created it meanwhile
    except OSError as exc:
        raise JobError(f"cannot create job store {path}: {exc.strerror}") from exc


def check_database(path: Path) -> None:
    """Each SQLite file of the store at `path` is missing or a regular file of ours."""
    for suffix in SQLITE_SUFFIXES:
        check_own_file(path.with_name(path.name + suffix))


def check_own_file(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise JobError(f"job store file {path} is unusable: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise JobError(f"job store file {path} is not a regular file; refusing it")
    if st.st_uid != os.geteuid():
        raise JobError(f"job store file {path} is not owned by this user; refusing it")


def open_log(log: Path) -> int:
    """`log` opened for appending (in a private directory made if missing), never through a
    link and only if it is a regular file; JobError otherwise."""
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(log.parent, 0o700)
        dir_fd = os.open(log.parent, _DIR_FLAGS)
        try:
            fd = open_regular(log.name, _LOG_FLAGS, 0o600, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # `logs` is a link or no directory
            raise JobError(f"worker log {log} is not a regular file; refusing it") from exc
        raise JobError(f"cannot write worker log {log}: {exc.strerror}") from exc
    if fd is None:
        raise JobError(f"worker log {log} is not a regular file; refusing it")
    return fd
