"""Reading a source file the way the archive trusts it: the regular file collected, unchanged.

Shared by the archiver and its reader processes (readers.py), so both make the same checks
and report a changed file with the same words.
"""

from __future__ import annotations

import errno
import os
import stat

from osbundle.errors import BuildError

StrPath = str | os.PathLike[str]

# No symlink at the last component; O_NONBLOCK so that a FIFO swapped in cannot hang the open.
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def open_source(source: StrPath, size: int, mtime_ns: int) -> int:
    """Open without following a final symlink and without blocking on a FIFO; check it first."""
    try:
        fd = os.open(source, OPEN_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BuildError(f"{source}: is a symbolic link, not a regular file") from exc
        raise BuildError(f"cannot open {source}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BuildError(f"{source}: not a regular file")
        check_stat(source, st, size, mtime_ns)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_stat(source: StrPath, st: os.stat_result, size: int, mtime_ns: int) -> None:
    if st.st_size != size:
        raise BuildError(
            f"{source}: size changed since the profile was collected "
            f"({size} -> {st.st_size} bytes); rebuild"
        )
    if st.st_mtime_ns != mtime_ns:
        raise BuildError(f"{source}: modified since the profile was collected; rebuild")


def read_exactly(fd: int, source: StrPath, view: memoryview, size: int) -> None:
    """Read the whole file into `view[:size]`; `view` holds one byte more.

    Each read asks for one byte more than is left: getting it means the file grew; getting
    less is its end, which spares a separate probe read.
    """
    got = 0
    while True:
        n = os.readv(fd, [view[got : size + 1]])
        got += n
        if got > size:
            raise grew(source, size)
        if got == size:
            return
        if n == 0:
            raise shrank(source, size, got)


def grew(source: StrPath, size: int) -> BuildError:
    return BuildError(f"{source}: file grew while it was archived (more than {size} bytes)")


def shrank(source: StrPath, size: int, got: int) -> BuildError:
    return BuildError(
        f"{source}: file shrank while it was archived (end of file after {got} of {size} bytes)"
    )
