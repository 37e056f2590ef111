"""sha256 + xxh3-128 of bytes and of source files, and the source checks the digest makes."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osbundle.errors import BuildError
from osbundle.model import SourceId
from osbundle.tarstream.digest import CHUNK, digest_bytes, digest_source
from osbundle.tarstream.sourcefile import StrPath, open_source
from tests.origins import collected

SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 17]


def expected(data: bytes) -> tuple[str, str]:
    return hashlib.sha256(data).hexdigest(), xxhash.xxh3_128(data).hexdigest()


def write(path: Path, data: bytes) -> tuple[int, int]:
    path.write_bytes(data)
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def test_chunk_is_one_mib() -> None:
    assert CHUNK == 1 << 20


def test_digest_bytes_is_sha256_and_xxh3_128_in_hex() -> None:
    assert digest_bytes(b"") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "99aa06d3014798d86001c324468d497f",
    )
    assert digest_bytes(b"abc") == expected(b"abc")
    assert digest_bytes(memoryview(b"xabcx")[1:4]) == expected(b"abc")


@pytest.mark.parametrize("size", SIZES)
def test_digest_source_is_digest_bytes_of_the_file(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    assert (
        digest_source(path, collected(path, *write(path, data)))
        == digest_bytes(data)
        == expected(data)
    )
    assert digest_source(str(path), collected(path)) == expected(data)


def test_a_file_grown_before_it_is_opened_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    size, mtime = write(path, b"abc")
    path.write_bytes(b"abcd")
    os.utime(path, ns=(mtime, mtime))  # the same mtime: the size tells
    with pytest.raises(BuildError, match=r"f: size changed since the profile was collected "
                       r"\(3 -> 4 bytes\); rebuild"):  # fmt: skip
        digest_source(path, collected(path, size, mtime))


def test_a_file_rewritten_in_place_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    size, mtime = write(path, b"abc")
    path.write_bytes(b"xyz")
    os.utime(path, ns=(mtime, mtime + 10**9))
    with pytest.raises(BuildError, match="f: modified since the profile was collected"):
        digest_source(path, collected(path, size, mtime))


def change_once_opened(
    monkeypatch: pytest.MonkeyPatch, path: Path, change: Callable[[Path], None]
) -> None:
    """The file changes right after digest_source opened and checked it, its mtime restored:
    only the read itself can tell."""

    def open_then_change(source: StrPath, origin: SourceId) -> int:
        fd = open_source(source, origin)
        st = path.stat()
        change(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
        return fd

    monkeypatch.setattr("osbundle.tarstream.digest.open_source", open_then_change)


def append(path: Path) -> None:
    with path.open("ab") as f:
        f.write(b"+")


@pytest.mark.parametrize("size", [0, 5, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK])
def test_a_file_that_grows_while_it_is_read_is_grew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    # CHUNK + 1 reads exactly to the end and needs the separate probe read to see the growth.
    path = tmp_path / "f"
    size, mtime = write(path, os.urandom(size))
    change_once_opened(monkeypatch, path, append)
    with pytest.raises(BuildError, match=rf"f: file grew while it was read \(more than {size} "):
        digest_source(path, collected(path, size, mtime))


@pytest.mark.parametrize(("size", "left"), [(10, 4), (10, 0), (CHUNK + 10, CHUNK + 2)])
def test_a_file_that_shrinks_while_it_is_read_is_shrank(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, left: int
) -> None:
    path = tmp_path / "f"
    size, mtime = write(path, os.urandom(size))
    change_once_opened(monkeypatch, path, lambda p: os.truncate(p, left))
    with pytest.raises(
        BuildError, match=rf"f: file shrank while it was read \(end of file after {left} of {size}"
    ):
        digest_source(path, collected(path, size, mtime))


def test_a_symlink_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "target"
    size, mtime = write(target, b"data")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(BuildError, match="link: is a symbolic link, not a regular file"):
        digest_source(link, collected(link, size, mtime))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    mtime = fifo.stat().st_mtime_ns
    outcome: list[BaseException | tuple[str, str]] = []
    done = threading.Event()

    def attempt() -> None:
        try:
            outcome.append(digest_source(fifo, collected(fifo, 0, mtime)))
        except BaseException as exc:  # the test inspects it below
            outcome.append(exc)
        finally:
            done.set()

    # A daemon thread: if the open blocked on the FIFO, the test fails instead of hanging.
    threading.Thread(target=attempt, daemon=True).start()
    assert done.wait(timeout=30), "digest_source blocked on a FIFO"
    assert len(outcome) == 1
    assert isinstance(outcome[0], BuildError)
    assert "fifo: not a regular file" in str(outcome[0])


def test_a_missing_file_is_a_build_error(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"cannot open .*gone"):
        digest_source(tmp_path / "gone", collected(tmp_path / "gone"))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=5000))
def test_any_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "any"
    assert digest_bytes(data) == expected(data)
    assert digest_source(path, collected(path, *write(path, data))) == expected(data)
