"""The one way osbundle reads a profile's file: the regular file that was collected, unchanged.

Every byte read from a profile goes through here: the archiver and its reader processes, the
render stage, `plan`'s digests, the macro checks of `validate`, `init`. A file is found again
from its `SourceId` (model.py), never from a path string: its folder is opened from the root's
directory one component at a time with O_NOFOLLOW, the file in it with O_NOFOLLOW|O_NONBLOCK
(no symlink anywhere, no FIFO hang), and the open file must be the collected one (device,
inode, size, mtime, ctime) and is read exactly to its end. A directory swapped for a symlink,
or a file renamed over, is refused in the same words by every reader, naming the source.

Folder descriptors are cached (at most MAX_FOLDERS, per process) so that 50,000 small files in
a few hundred directories cost one openat each. The cache is keyed by the `Folder` objects of a walk
and checks each directory's (dev, ino) when it opens it; a cached descriptor keeps that inode
allocated, so it can only ever be that directory: the cache needs no invalidation.
"""

from __future__ import annotations

import errno
import os
import stat

from osbundle.errors import BuildError
from osbundle.model import Folder, SourceId

StrPath = str | os.PathLike[str]

# No symlink at the last component; O_NONBLOCK so that a FIFO swapped in cannot hang the open.
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# The root is the directory the user (or `extends`) named: a link to it is theirs to make.
ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
MAX_FOLDERS = 128
_FOLDERS: dict[Folder, int] = {}


def source_at(path: StrPath) -> SourceId:
    """The identity `path` has now, for callers that hold a bare path rather than a collected
    source (tests, tools); a final symlink is not followed, so reading one is refused."""
    parent, name = os.path.split(os.path.abspath(os.fspath(path)))
    root = os.path.realpath(parent)
    dst, st = os.stat(root), os.lstat(path)
    folder = Folder(root, "", dst.st_dev, dst.st_ino)
    return SourceId(folder, name, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def forget_folders(*, close: bool = True) -> None:
    """Drop the cached folder descriptors (a forked reader: its copies, before it opens its own)."""
    held = list(_FOLDERS.values())
    _FOLDERS.clear()
    for fd in held if close else ():
        os.close(fd)


def open_folder(folder: Folder, source: StrPath) -> int:
    """A descriptor of `folder`, cached; BuildError if it is not the collected directory.

    A miss opens the folders below the nearest one already open (the root, opened by its
    path, when none is), each with O_NOFOLLOW and each checked to be the directory collected.
    """
    fd = _FOLDERS.get(folder)
    if fd is not None:
        return fd
    chain: list[Folder] = []
    below: Folder | None = folder
    while below is not None and below not in _FOLDERS:
        chain.append(below)
        below = below.parent
    base = None if below is None else _FOLDERS[below]
    opened: list[tuple[Folder, int]] = []
    try:
        for step in reversed(chain):
            base = _open_step(step, base, source)
            opened.append((step, base))
    except BaseException:
        for _, held in opened:
            os.close(held)
        raise
    for step, held in opened:  # only now: an eviction must not close a base still in use
        if len(_FOLDERS) >= MAX_FOLDERS:
            os.close(_FOLDERS.pop(next(iter(_FOLDERS))))
        _FOLDERS[step] = held
    assert base is not None
    return base


def _open_step(folder: Folder, base: int | None, source: StrPath) -> int:
    """`folder`, opened below the descriptor of its parent (`base`), or by path for a root."""
    try:
        if base is None:
            fd = os.open(folder.root, ROOT_FLAGS)
        else:
            fd = os.open(folder.rel.rpartition("/")[2], DIR_FLAGS, dir_fd=base)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # a directory became a link or a file
            raise changed(source) from exc
        raise open_error(source, exc) from exc
    try:
        st = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise open_error(source, exc) from exc
    if (st.st_dev, st.st_ino) != (folder.dev, folder.ino):
        os.close(fd)
        raise changed(source)
    return fd


def open_source(source: StrPath, origin: SourceId) -> int:
    """Open the collected file without following any link and without blocking on a FIFO;
    check it is still that file. `source` names it in messages."""
    folder_fd = _FOLDERS.get(origin.folder)  # open_folder's hit, inline: this runs per file
    if folder_fd is None:
        folder_fd = open_folder(origin.folder, source)
    try:
        fd = os.open(origin.name, OPEN_FLAGS, dir_fd=folder_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BuildError(f"{source}: is a symbolic link, not a regular file") from exc
        raise open_error(source, exc) from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BuildError(f"{source}: not a regular file")
        check_stat(source, st, origin)
    except BaseException as exc:
        os.close(fd)
        if isinstance(exc, OSError):
            raise read_error(source, exc) from exc
        raise
    return fd


def check_unchanged(fd: int, source: StrPath, origin: SourceId) -> None:
    """After reading: the open file still has the stat it was collected with."""
    try:
        st = os.fstat(fd)
    except OSError as exc:
        raise read_error(source, exc) from exc
    check_stat(source, st, origin)


def check_stat(source: StrPath, st: os.stat_result, origin: SourceId) -> None:
    if (
        st.st_ino == origin.ino
        and st.st_size == origin.size
        and st.st_mtime_ns == origin.mtime_ns
        and st.st_ctime_ns == origin.ctime_ns
        and st.st_dev == origin.dev
    ):
        return
    if st.st_size != origin.size:
        raise BuildError(
            f"{source}: size changed since the profile was collected "
            f"({origin.size} -> {st.st_size} bytes); rebuild"
        )
    if st.st_mtime_ns != origin.mtime_ns:
        raise BuildError(f"{source}: modified since the profile was collected; rebuild")
    raise changed(source)


def changed(source: StrPath) -> BuildError:
    """Another file, or this one renamed, relinked or re-moded, where a source was collected."""
    return BuildError(f"{source}: changed since the profile was collected; rebuild")


def open_error(source: StrPath, exc: OSError) -> BuildError:
    return BuildError(f"cannot open {source}: {exc.strerror or exc}")


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


def read_whole(source: StrPath, origin: SourceId) -> bytes:
    """The whole file, as it was collected; callers cap its size first (settings, templates)."""
    size = origin.size
    buffer = memoryview(bytearray(size + 1))
    fd = open_source(source, origin)
    try:
        read_exactly(fd, source, buffer, size)
        check_unchanged(fd, source, origin)
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
