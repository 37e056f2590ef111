"""The one way osbundle reads a profile's file: the regular file that was collected, unchanged.

Every byte read from a profile goes through here: the archiver and its reader processes, the
render stage, `plan`'s digests, the macro checks of `validate`, `init`. So each reader makes the
same checks (no final symlink, no FIFO hang, a regular file, the size and mtime seen when the
profile was collected, read exactly to its end) and reports a problem in the same words, naming
the source, never the bundle being written.
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
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):
            raise read_error(source, exc) from exc
        raise
    return fd


def check_unchanged(fd: int, source: StrPath, size: int, mtime_ns: int) -> None:
    """After reading: the open file still has the size and mtime it was collected with."""
    try:
        st = os.fstat(fd)
    except OSError as exc:
        raise read_error(source, exc) from exc
    check_stat(source, st, size, mtime_ns)


def check_stat(source: StrPath, st: os.stat_result, size: int, mtime_ns: int) -> None:
    if st.st_size != size:
        raise BuildError(
            f"{source}: size changed since the profile was collected "
            f"({size} -> {st.st_size} bytes); rebuild"
        )
    if st.st_mtime_ns != mtime_ns:
        raise BuildError(f"{source}: modified since the profile was collected; rebuild")


def read_some(fd: int, source: StrPath, view: memoryview, remaining: int, size: int) -> int:
    """One read into `view` of a file that has `remaining` of its `size` bytes left to read.

    It asks for one byte more than is left when `view` has room: getting it means the file
    grew; getting less is its end, which spares a separate probe read at the end.
    """
    try:
        n = os.readv(fd, [view[: remaining + 1]])
    except OSError as exc:
        raise read_error(source, exc) from exc
    if n > remaining:
        raise grew(source, size)
    if n == 0 and remaining:
        raise shrank(source, size, size - remaining)
    return n


def read_exactly(fd: int, source: StrPath, view: memoryview, size: int) -> None:
    """Read the whole file into `view[:size]`; `view` holds one byte more, so that the reads
    probe as `read_some`'s do. Written out rather than calling it: this runs once per small
    file, the most common member of a driver tree."""
    got = 0
    try:
        while True:
            n = os.readv(fd, [view[got : size + 1]])
            got += n
            if got > size:
                raise grew(source, size)
            if got == size:
                return
            if n == 0:
                raise shrank(source, size, got)
    except OSError as exc:
        raise read_error(source, exc) from exc


def read_whole(source: StrPath, size: int, mtime_ns: int) -> bytes:
    """The whole file, as it was collected; callers cap `size` first (settings, templates)."""
    buffer = memoryview(bytearray(size + 1))
    fd = open_source(source, size, mtime_ns)
    try:
        read_exactly(fd, source, buffer, size)
        check_unchanged(fd, source, size, mtime_ns)
    finally:
        os.close(fd)
    return bytes(buffer[:size])


def read_error(source: StrPath, exc: OSError) -> BuildError:
    return BuildError(f"cannot read {source}: {exc.strerror or exc}")


def grew(source: StrPath, size: int) -> BuildError:
    return BuildError(f"{source}: file grew while it was read (more than {size} bytes)")


def shrank(source: StrPath, size: int, got: int) -> BuildError:
    return BuildError(
        f"{source}: file shrank while it was read (end of file after {got} of {size} bytes)"
    )
