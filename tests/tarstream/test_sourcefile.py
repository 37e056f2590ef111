"""sourcefile.py: exact reads, and a file found again only as the file that was collected."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from osbundle.errors import BuildError
from osbundle.model import SourceId
from osbundle.profile.walk import Walker
from osbundle.tarstream import sourcefile
from osbundle.tarstream.sourcefile import MAX_FOLDERS, forget_folders, read_exactly, read_whole
from tests.profile.helpers import matches_by_source


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    """A pipe: a read returns what was written so far, like a short read of a file."""
    r, w = os.pipe()
    yield r, w
    os.close(r)


def feed(w: int, *chunks: bytes, pause: float = 0.0) -> None:
    for chunk in chunks:
        os.write(w, chunk)
        time.sleep(pause)
    os.close(w)


def test_short_reads_are_read_on(pipe: tuple[int, int]) -> None:
    r, w = pipe
    writer = threading.Thread(target=feed, args=(w, b"abc", b"def"), kwargs={"pause": 0.05})
    writer.start()
    buf = bytearray(7)
    read_exactly(r, "p", memoryview(buf), 6)  # the first read gets 3 of 6, the second the rest
    writer.join()
    assert bytes(buf[:6]) == b"abcdef"


@pytest.mark.parametrize(("data", "size"), [(b"", 0), (b"x", 1), (b"0123456789", 10)])
def test_exact_sizes(pipe: tuple[int, int], data: bytes, size: int) -> None:
    r, w = pipe
    feed(w, data)
    buf = bytearray(size + 1)
    read_exactly(r, "p", memoryview(buf), size)
    assert bytes(buf[:size]) == data


@pytest.mark.parametrize(("data", "size"), [(b"x", 0), (b"abcdefg", 6)])
def test_one_byte_more_is_growth(pipe: tuple[int, int], data: bytes, size: int) -> None:
    r, w = pipe
    feed(w, data)
    with pytest.raises(BuildError, match=rf"p: file grew while it was read \(more than {size} "):
        read_exactly(r, "p", memoryview(bytearray(size + 1)), size)


def test_an_early_end_is_shrinking(pipe: tuple[int, int]) -> None:
    r, w = pipe
    feed(w, b"ab", b"cd")
    with pytest.raises(BuildError, match=r"shrank .*end of file after 4 of 6 bytes"):
        read_exactly(r, "p", memoryview(bytearray(7)), 6)


# --- a file is found again by its identity, never by a path string (issue #9 item 5) --------


def twin(path: Path, like: Path, data: bytes) -> None:
    """`data` at `path` with the size and mtime of `like`: what a size+mtime check cannot tell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    st = like.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    """root/sub/f holding b"collected", its folder never read before (a cold cache)."""
    (tmp_path / "root" / "sub").mkdir(parents=True)
    (tmp_path / "root" / "sub" / "f").write_bytes(b"collected")
    yield tmp_path / "root"
    forget_folders()


def origin_of(root: Path, rel: str) -> SourceId:
    """What the walk records for `rel` below `root`."""
    with Walker.at(str(root)) as walker:
        walker.expand(rel.split("/"))
    return matches_by_source(walker)[rel].origin


def test_a_same_size_same_mtime_rename_over_is_refused(tree: Path) -> None:
    origin = origin_of(tree, "sub/f")
    twin(tree / "sub" / "new", tree / "sub" / "f", b"REPLACED!")
    os.replace(tree / "sub" / "new", tree / "sub" / "f")
    assert os.stat(tree / "sub" / "f").st_mtime_ns == origin.mtime_ns
    with pytest.raises(BuildError, match=r"f: changed since the profile was collected; rebuild$"):
        read_whole(str(tree / "sub" / "f"), origin)


def test_a_mode_change_alone_is_a_change(tree: Path) -> None:
    origin = origin_of(tree, "sub/f")
    time.sleep(0.01)  # ctime has a clock's resolution
    os.chmod(tree / "sub" / "f", 0o600)
    with pytest.raises(BuildError, match="changed since the profile was collected"):
        read_whole("f", origin)


@pytest.mark.parametrize("target", ["outside", "inside"])
def test_a_folder_swapped_for_a_link_is_refused(tree: Path, target: str) -> None:
    """A link to outside or to a twin folder inside the root: the reader follows no link on
    the collected real path, so it never reaches another file (and would refuse its inode)."""
    origin = origin_of(tree, "sub/f")
    elsewhere = tree.parent / "outside" if target == "outside" else tree / "other"
    twin(elsewhere / "f", tree / "sub" / "f", b"elsewhere")
    os.rename(tree / "sub", tree / "moved")
    (tree / "sub").symlink_to(elsewhere)
    with pytest.raises(BuildError, match=r"sub/f: changed since the profile was collected"):
        read_whole(str(tree / "sub" / "f"), origin)


def test_a_folder_swapped_for_another_directory_is_refused(tree: Path) -> None:
    origin = origin_of(tree, "sub/f")
    twin(tree / "other" / "f", tree / "sub" / "f", b"other one")
    os.rename(tree / "sub", tree / "moved")
    os.rename(tree / "other", tree / "sub")
    with pytest.raises(BuildError, match="changed since the profile was collected"):
        read_whole("sub/f", origin)


def test_a_cached_folder_reads_the_collected_file_even_once_moved(tree: Path) -> None:
    """Once a folder is open, its descriptor is the directory that was collected: swapping its
    path afterwards cannot redirect a read, which gets the collected, unchanged file."""
    origin = origin_of(tree, "sub/f")
    assert read_whole("f", origin) == b"collected"  # the folder is cached now
    twin(tree.parent / "outside" / "f", tree / "sub" / "f", b"elsewhere")
    os.rename(tree / "sub", tree / "moved")
    (tree / "sub").symlink_to(tree.parent / "outside")
    assert read_whole("f", origin) == b"collected"


def test_the_root_itself_replaced_is_refused(tree: Path) -> None:
    origin = origin_of(tree, "sub/f")
    os.rename(tree, tree.parent / "moved")
    shutil.copytree(tree.parent / "moved", tree)
    with pytest.raises(BuildError, match="changed since the profile was collected"):
        read_whole("f", origin)


def test_folder_descriptors_are_bounded_and_forgotten(tmp_path: Path) -> None:
    origins = []
    for i in range(MAX_FOLDERS + 5):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / "f").write_bytes(b"x")
        origins.append(origin_of(tmp_path, f"d{i}/f"))
    for origin in origins:
        assert read_whole("f", origin) == b"x"
    assert len(sourcefile._FOLDERS) == MAX_FOLDERS
    held = list(sourcefile._FOLDERS.values())
    forget_folders()
    assert not sourcefile._FOLDERS
    for fd in held:
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.fstat(fd)
