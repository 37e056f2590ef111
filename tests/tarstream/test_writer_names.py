"""BundleWriter without per-member state: add_stream, and names refused by order (payload) or
against the trailers written (`<top>/metadata.json`, `<top>/SHA256SUMS`)."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator

import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.errors import BuildError, Cancelled
from osbundle.model import MemberDigest
from osbundle.tarstream.deflate import BLOCK_SIZE
from osbundle.tarstream.writer import BundleWriter, is_trailer_name

MTIME = 315532800


def writer() -> tuple[BundleWriter, io.BytesIO]:
    out = io.BytesIO()
    return BundleWriter(out, mtime=MTIME, threads=1), out


def members_of(blob: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        found = []
        for info in tar:
            extracted = tar.extractfile(info)
            assert extracted is not None
            found.append((info.name, extracted.read()))
        return found


def digest_of(name: str, data: bytes) -> MemberDigest:
    return MemberDigest(
        name, len(data), hashlib.sha256(data).hexdigest(), xxhash.xxh3_128_hexdigest(data)
    )


@settings(max_examples=30, deadline=None)
@given(
    chunks=st.lists(
        st.one_of(st.binary(max_size=3000), st.integers(0, 3 * BLOCK_SIZE).map(bytes)),
        max_size=6,
    ),
    views=st.booleans(),
)
def test_add_stream_writes_and_hashes_what_add_bytes_would(
    chunks: list[bytes], views: bool
) -> None:
    data = b"".join(chunks)
    w, out = writer()
    with w:
        sent = [memoryview(c) if views else c for c in chunks]
        streamed = w.add_stream("p/metadata.json", len(data), sent, mode=0o644)
        w.close()
    other, plain = writer()
    with other:
        assert other.add_bytes("p/metadata.json", data, mode=0o644) == streamed
        other.close()
    assert streamed == digest_of("p/metadata.json", data)
    assert out.getvalue() == plain.getvalue()
    assert members_of(out.getvalue()) == [("p/metadata.json", data)]


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        ([b"abc"], r"^member 'p/x': 3 of the 4 bytes announced$"),
        ([], r"^member 'p/x': 0 of the 4 bytes announced$"),
        ([b"ab", b"cde"], r"^member 'p/x': more than the 4 bytes announced$"),
    ],
)
def test_add_stream_refuses_chunks_that_are_not_the_size_and_the_writer_is_done(
    chunks: list[bytes], message: str
) -> None:
    w, _ = writer()
    with w:
        w.add_bytes("p/a", b"first", mode=0o644)
        with pytest.raises(BuildError, match=message):
            w.add_stream("p/x", 4, chunks, mode=0o644)
        with pytest.raises(BuildError, match="archive writer is failed"):
            w.add_bytes("p/y", b"", mode=0o644)
        with pytest.raises(BuildError, match="archive writer is failed"):
            w.close()


def test_add_stream_stops_between_chunks() -> None:
    polls = iter(range(100))
    out = io.BytesIO()
    w = BundleWriter(out, mtime=MTIME, threads=1, should_stop=lambda: next(polls) >= 2)

    def chunks() -> Iterator[bytes]:
        yield b"one"
        yield b"two"
        raise AssertionError("read on after the stop")

    with w, pytest.raises(Cancelled):
        w.add_stream("p/x", 9, chunks(), mode=0o644)


def test_a_refused_name_leaves_the_writer_usable() -> None:
    w, out = writer()
    with w:
        w.add_bytes("p/b", b"b", mode=0o644)
        with pytest.raises(BuildError, match=r"^duplicate archive member 'p/b'$"):
            w.add_bytes("p/b", b"again", mode=0o644)
        with pytest.raises(BuildError, match=r"^duplicate archive member 'p/b'$"):
            w.add_stream("p/b", 1, [b"x"], mode=0o644)
        with pytest.raises(
            BuildError,
            match=r"^archive member 'p/a' is out of order: it sorts before 'p/b', and members "
            r"must come sorted by the UTF-8 bytes of their names$",
        ):
            w.add_bytes("p/a", b"a", mode=0o644)
        w.add_bytes("p/c", b"c", mode=0o644)
        w.close()
    assert members_of(out.getvalue()) == [("p/b", b"b"), ("p/c", b"c")]


def test_prepared_runs_are_held_to_the_same_order() -> None:
    w, _ = writer()
    with w:
        w.add_bytes("p/m", b"", mode=0o644)
        for names, message in [
            (["p/n", "p/n"], r"^duplicate archive member 'p/n'$"),
            (["p/m"], r"^duplicate archive member 'p/m'$"),
            (["p/o", "p/l"], r"^archive member 'p/l' is out of order: it sorts before 'p/o'"),
            (["p/SHA256SUMS", "p/n", "p/SHA256SUMS"], r"^duplicate archive member 'p/SHA256"),
        ]:
            digests = [digest_of(name, b"") for name in names]
            with pytest.raises(BuildError, match=message):
                w.add_prepared(memoryview(b""), digests)
        # Nothing of a refused run was remembered: its names are still free.
        w.add_prepared(memoryview(b""), [digest_of("p/n", b""), digest_of("p/o", b"")])
        with pytest.raises(BuildError, match="out of order"):
            w.add_bytes("p/n2", b"", mode=0o644)


def test_trailers_come_after_payload_that_sorts_after_them_but_only_once() -> None:
    w, out = writer()
    with w:
        w.add_bytes("p/unattend/u.xml", b"u", mode=0o644)
        w.add_bytes("p/metadata.json", b"{}", mode=0o644)
        w.add_bytes("p/SHA256SUMS", b"", mode=0o644)
        for name in ("p/metadata.json", "p/SHA256SUMS"):
            with pytest.raises(BuildError, match=rf"^duplicate archive member '{name}'$"):
                w.add_bytes(name, b"", mode=0o644)
        w.add_bytes("q/metadata.json", b"", mode=0o644)  # another top's trailer is another name
        w.close()
    assert [name for name, _ in members_of(out.getvalue())] == [
        "p/unattend/u.xml",
        "p/metadata.json",
        "p/SHA256SUMS",
        "q/metadata.json",
    ]


def test_only_a_trailer_directly_below_a_top_is_a_trailer_name() -> None:
    assert is_trailer_name("p/metadata.json")
    assert is_trailer_name("corpus/SHA256SUMS")
    assert not is_trailer_name("metadata.json")
    assert not is_trailer_name("/metadata.json")
    assert not is_trailer_name("p/custom/files/metadata.json")
    assert not is_trailer_name("p/sha256sums")
    assert not is_trailer_name("p/metadata.json/x")


def test_a_payload_file_named_like_a_trailer_deeper_down_is_ordered_like_any_other() -> None:
    w, _ = writer()
    with w:
        w.add_bytes("p/custom/files/metadata.json", b"", mode=0o644)
        with pytest.raises(BuildError, match="out of order"):
            w.add_bytes("p/custom/files/SHA256SUMS", b"", mode=0o644)
        w.close()
