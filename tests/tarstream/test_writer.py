from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import xxhash
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osbundle.errors import BuildError, Cancelled
from osbundle.model import MemberDigest
from osbundle.tarstream.deflate import BLOCK_SIZE
from osbundle.tarstream.writer import PROGRESS_STEP, ArchiveResult, BundleWriter
from tests.origins import collected

MTIME = 315532800
component = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="/\0"),
    min_size=1,
    max_size=30,
).filter(lambda c: c not in (".", "..") and len(c.encode()) < 200)
paths = st.lists(component, min_size=1, max_size=9).map(tuple)
sizes = st.one_of(st.sampled_from([0, 1, 511, 512, 513, 1024, 4096]), st.integers(0, 70_000))
trees = st.dictionaries(paths, sizes, min_size=1, max_size=12).filter(
    lambda tree: not any(a != b and b[: len(a)] == a for a in tree for b in tree)
)


def content(path: tuple[str, ...], size: int) -> bytes:
    seed = hashlib.sha256("/".join(path).encode()).digest()
    return (seed * (size // 32 + 1))[:size]


def build(
    root: Path,
    files: dict[str, bytes],
    *,
    threads: int = 2,
    compression: str = "default",
    **kwargs: Callable[..., object],
) -> tuple[bytes, ArchiveResult, list[MemberDigest]]:
    """Write `files` (member name -> content) under `root`, archive them in sorted order; the
    archive, the result and the digests `add_file` returned."""
    for name, data in files.items():
        src = root / "src" / name
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(data)
    out = io.BytesIO()
    digests = []
    with BundleWriter(out, mtime=MTIME, compression=compression, threads=threads, **kwargs) as w:  # type: ignore[arg-type]
        for name in sorted(files, key=lambda n: n.encode()):
            src = root / "src" / name
            digests.append(w.add_file(name, src, collected(src), mode=0o644))
        result = w.close()
    return out.getvalue(), result, digests


def check_result(
    blob: bytes, result: ArchiveResult, digests: list[MemberDigest], files: dict[str, bytes]
) -> None:
    tar = gzip.decompress(blob)
    assert result.size == len(blob)
    assert result.sha256 == hashlib.sha256(blob).hexdigest()
    assert result.tar_size == len(tar)
    assert result.tar_sha256 == hashlib.sha256(tar).hexdigest()
    assert len(tar) % 10240 == 0
    expected = [
        MemberDigest(
            name, len(data), hashlib.sha256(data).hexdigest(), xxhash.xxh3_128_hexdigest(data)
        )
        for name, data in sorted(files.items(), key=lambda kv: kv[0].encode())
    ]
    assert digests == expected
    assert result.members == len(files)


def read_with_tarfile(blob: bytes) -> dict[str, bytes]:
    found = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for info in tar:
            assert info.isreg()
            assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")
            assert info.mtime == MTIME
            extracted = tar.extractfile(info)
            assert extracted is not None
            found[info.name] = extracted.read()
    return found


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees)
def test_random_trees_round_trip(tree: dict[tuple[str, ...], int]) -> None:
    files = {"/".join(p): content(p, size) for p, size in tree.items()}
    with tempfile.TemporaryDirectory() as tmp:
        blob, result, digests = build(Path(tmp), files)
        check_result(blob, result, digests, files)
        assert read_with_tarfile(blob) == files
        (Path(tmp) / "b.tgz").write_bytes(blob)
        dest = Path(tmp) / "x"
        dest.mkdir()
        subprocess.run(["tar", "-xzf", str(Path(tmp) / "b.tgz"), "-C", str(dest)], check=True)
        for name, data in files.items():
            assert (dest / name).read_bytes() == data


@pytest.mark.slow
@pytest.mark.parametrize("compression", ["fast", "default", "best"])
def test_same_bytes_for_any_thread_count_and_readable_by_every_tool(
    tmp_path: Path, compression: str
) -> None:
    files = {f"p/d{i % 7}/f{i:03d}.bin": content(("x", str(i)), i * 9973) for i in range(120)}
    files["p/" + "long/" * 60 + "deep.txt"] = b"deep\n"
    files["p/ünïcödé/файл.txt"] = b"unicode\n"
    blobs = [build(tmp_path / str(t), files, threads=t, compression=compression) for t in (1, 2, 8)]
    assert blobs[0][0] == blobs[1][0] == blobs[2][0]
    check_result(*blobs[0], files)
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(blobs[0][0])
    subprocess.run(["gzip", "-t", str(archive)], check=True)
    listing = subprocess.run(["tar", "-tzf", str(archive)], check=True, capture_output=True)
    assert sorted(listing.stdout.decode().splitlines()) == sorted(files)
    if shutil.which("bsdtar"):
        listing = subprocess.run(["bsdtar", "-tzf", str(archive)], check=True, capture_output=True)
        assert sorted(listing.stdout.decode().splitlines()) == sorted(files)


def test_thread_count_does_not_change_the_bytes(tmp_path: Path) -> None:
    files = {f"p/f{i}": content(("t", str(i)), i * 300_007) for i in range(1, 5)}
    one = build(tmp_path / "one", files, threads=1)
    many = build(tmp_path / "many", files, threads=8)
    assert one == many
    check_result(*one, files)


def test_add_bytes_and_trailing_members(tmp_path: Path) -> None:
    out = io.BytesIO()
    with BundleWriter(out, mtime=MTIME, threads=1) as w:
        first = w.add_bytes("p/metadata.json", b"{}\n", mode=0o644)
        w.add_bytes("p/run.sh", b"#!/bin/sh\n", mode=0o755)
        result = w.close()
    assert first == MemberDigest(
        "p/metadata.json",
        3,
        hashlib.sha256(b"{}\n").hexdigest(),
        xxhash.xxh3_128_hexdigest(b"{}\n"),
    )
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
        assert [(i.name, i.mode) for i in tar] == [("p/metadata.json", 0o644), ("p/run.sh", 0o755)]
    assert "isal 1.9.1" in result.compressor


def test_result_digests_match_the_file_on_disk(tmp_path: Path) -> None:
    files = {"p/big.bin": content(("big",), 3 * 1024 * 1024 + 5), "p/small": b"x"}
    blob, result, digests = build(tmp_path, files)
    check_result(blob, result, digests, files)


def writer_with(tmp_path: Path, **kwargs: Callable[..., object]) -> tuple[BundleWriter, io.BytesIO]:
    out = io.BytesIO()
    return BundleWriter(out, mtime=MTIME, threads=2, **kwargs), out  # type: ignore[arg-type]


def add(w: BundleWriter, path: Path) -> MemberDigest:
    return w.add_file("p/f", path, collected(path), mode=0o644)


def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    w, _ = writer_with(tmp_path)
    with w, pytest.raises(BuildError, match="not a regular file"):
        w.add_file("p/f", fifo, collected(fifo), mode=0o644)


def test_symlink_and_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"data")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    w, _ = writer_with(tmp_path)
    with w:
        with pytest.raises(BuildError, match="symbolic link"):
            w.add_file("p/l", tmp_path / "link", collected(tmp_path / "link"), mode=0o644)
        with pytest.raises(BuildError, match="not a regular file"):
            w.add_file("p/d", tmp_path, collected(tmp_path), mode=0o644)


def test_changed_size_fails_before_writing_and_leaves_writer_usable(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"12345")
    w, out = writer_with(tmp_path)
    with w:
        with pytest.raises(BuildError, match="size changed"):
            w.add_file("p/f", src, collected(src, size=4), mode=0o644)
        with pytest.raises(BuildError, match="modified since"):
            w.add_file("p/f", src, collected(src, mtime_ns=1), mode=0o644)
        add(w, src)
        w.close()
    assert read_with_tarfile(out.getvalue()) == {"p/f": b"12345"}


def mutate_after_open(path: Path, change: Callable[[Path], None]) -> Callable[[], bool]:
    """A should_stop hook that changes the file at the first chunk poll (after the open)."""
    calls = []

    def hook() -> bool:
        calls.append(1)
        if len(calls) == 2:
            change(path)
        return False

    return hook


def truncate(path: Path) -> None:
    os.truncate(path, 100)


def append(path: Path) -> None:
    with path.open("ab") as f:
        f.write(b"more")


def touch(path: Path) -> None:
    os.utime(path, ns=(1, 1))


@pytest.mark.parametrize(
    ("change", "message"),
    [(truncate, "shrank"), (append, "grew"), (touch, "modified since")],
)
# 5000 bytes: growth seen by the read asking one byte more; a member ending exactly at the
# block boundary leaves no room for that byte, so the separate probe read must see it.
@pytest.mark.parametrize("size", [5000, BLOCK_SIZE - 512])
def test_file_changing_while_read_fails_the_build(
    tmp_path: Path, change: Callable[[Path], None], message: str, size: int
) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"a" * size)
    w, _ = writer_with(tmp_path, should_stop=mutate_after_open(src, change))
    with w:
        with pytest.raises(BuildError, match=message):
            add(w, src)
        with pytest.raises(BuildError, match="failed"):
            w.add_bytes("p/g", b"", mode=0o644)


def test_duplicate_and_invalid_names(tmp_path: Path) -> None:
    w, _ = writer_with(tmp_path)
    with w:
        w.add_bytes("p/a", b"", mode=0o644)
        with pytest.raises(BuildError, match="duplicate"):
            w.add_bytes("p/a", b"", mode=0o644)
        with pytest.raises(BuildError, match="invalid archive member name"):
            w.add_bytes("p/../a", b"", mode=0o644)
        w.close()


def test_cancel_stops_and_threads_end(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(os.urandom(3 << 20))
    polls = iter(range(100))

    def stop_at_second_chunk() -> bool:
        return next(polls) >= 2  # polls: member start, first chunk, second chunk

    w, _ = writer_with(tmp_path, should_stop=stop_at_second_chunk)
    with pytest.raises(Cancelled), w:
        add(w, src)
    assert not [t for t in threading.enumerate() if t.name.startswith("osbundle-")]


def test_progress_is_every_few_mib_within_members(tmp_path: Path) -> None:
    # Per-member progress is the caller's (stages/archive.py reports each file it gets back).
    files = {"p/a": content(("a",), 20 << 20), "p/b": b"tiny"}
    seen: list[int] = []
    build(tmp_path, files, progress=seen.append)
    gaps = [b - a for a, b in zip([0, *seen], seen, strict=False)]
    assert all(PROGRESS_STEP <= gap < PROGRESS_STEP + BLOCK_SIZE for gap in gaps)
    assert 0 <= (20 << 20) - seen[-1] < PROGRESS_STEP  # nothing more after the last member


MEMORY_SCRIPT = textwrap.dedent(
    """
    import os, re, sys
    from pathlib import Path
    from osbundle.tarstream.writer import BundleWriter
    src = Path(sys.argv[1])
    from osbundle.tarstream.sourcefile import source_at
    with open(os.devnull, "wb") as out, BundleWriter(out, mtime=0, threads=2) as w:
        digest = w.add_file("p/sparse", src, source_at(src), mode=0o644)
        r = w.close()
    # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
    status = open("/proc/self/status").read()
    peak_kib = re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)
    print(peak_kib, r.tar_size, digest.sha256)
    """
)


@pytest.mark.slow
def test_sparse_file_bigger_than_the_block_pool_uses_bounded_memory(tmp_path: Path) -> None:
    src = tmp_path / "sparse"
    size = (1 << 30) + 7
    with src.open("wb") as f:
        f.truncate(size)
    run = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, str(src)], check=True, capture_output=True, text=True
    )
    max_rss_kib, tar_size, sha = run.stdout.split()
    assert int(max_rss_kib) < 128 * 1024
    zeros = hashlib.sha256()
    block = bytes(1 << 20)
    for _ in range(size >> 20):
        zeros.update(block)
    zeros.update(bytes(size % (1 << 20)))
    assert sha == zeros.hexdigest()
    assert int(tar_size) >= size + 1024
