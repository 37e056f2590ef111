"""bundle/tarread.py: the strict tar.gz reader, from gzip bytes to members, headers and names."""

from __future__ import annotations

import io
import posixpath
import random
import zlib
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import osbundle.bundle.read as bundle_read
import osbundle.bundle.tarread as tarread
from osbundle.bundle.inspect import inspect_bundle
from osbundle.bundle.read import scan_bundle
from osbundle.bundle.tarread import (
    CHUNK,
    RECORD,
    GzipSource,
    TarEntry,
    TarStream,
    check_type,
    name_problem,
    parse_pax,
    parse_pax_size,
    show,
)
from osbundle.bundle.verify import verify_bundle
from osbundle.errors import BundleError
from tests import bundle_factory as bf
from tests.bundle_factory import pad, pax_header, pax_record, raw_header, regular, tar_case


def test_member_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tarread, "MAX_MEMBERS", 3)
    body = b"".join(regular(f"p/custom/files/{i}", b"x") for i in range(4))
    bundle = bf.write_bundle(tmp_path, tar_case(body))
    with pytest.raises(BundleError, match="more than 3 members"):
        inspect_bundle(bundle)


def test_exactly_the_member_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tarread, "MAX_MEMBERS", 3)
    body = b"".join(regular(f"p/custom/files/{i}", b"x") for i in range(3))
    scan = scan_bundle(bf.write_bundle(tmp_path, tar_case(body)), sha256=False, xxh3=False)
    assert len(scan.records) == 3


@pytest.mark.slow
def test_one_more_member_than_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Within metadata.json's limit no archive gets this far (read.inventory_floor refuses it
    # first); lifted here so that the member limit itself is what stops the scan.
    monkeypatch.setattr(bundle_read, "MAX_TRAILER_BYTES", 1 << 40)
    empty = raw_header("p/custom/files/0000000")
    prefix, suffix = empty[:15], empty[22:148]
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    with (tmp_path / "big.tar.gz").open("wb") as out:
        for start in range(0, tarread.MAX_MEMBERS + 1, 10_000):
            blocks = []
            for i in range(start, min(start + 10_000, tarread.MAX_MEMBERS + 1)):
                block = prefix + f"{i:07d}".encode() + suffix
                block += f"{sum(block) + 256 + sum(empty[156:]):06o}\x00 ".encode() + empty[156:]
                blocks.append(block)
            out.write(compressor.compress(b"".join(blocks)))
        out.write(compressor.compress(bytes(10240)) + compressor.flush())
    with pytest.raises(BundleError, match=f"more than {tarread.MAX_MEMBERS:,} members"):
        scan_bundle(tmp_path / "big.tar.gz", sha256=False, xxh3=False)


@given(st.binary(max_size=300))
def test_pax_parser_never_fails_uncleanly(body: bytes) -> None:
    try:
        records = parse_pax(body, 0)
    except BundleError as exc:
        message = str(exc)
        records = {}
    else:
        message = ""
    assert "\n" not in message
    assert set(records) <= {
        "path",
        "size",
        "mtime",
        "atime",
        "ctime",
        "uid",
        "gid",
        "uname",
        "gname",
        "comment",
    }


@given(st.binary(min_size=512, max_size=512))
def test_header_parser_never_fails_uncleanly(block: bytes) -> None:
    try:
        size = tarread.parse_header(block, 0).size
    except BundleError as exc:
        message, size = str(exc), 0
    else:
        message = ""
    assert "\n" not in message
    assert size >= 0


def test_nonzero_member_padding_is_refused(tmp_path: Path) -> None:
    tar = bytearray(bf.tar_bytes(bf.bundle_entries()))
    first = bf.windows_members()[0]
    tar[tar.index(first.data) + len(first.data)] = 0x41
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bytes(tar)))
    with pytest.raises(BundleError, match="non-zero padding after member"):
        verify_bundle(bundle)


# --- show ------------------------------------------------------------------------------------


def test_show_quotes_escapes_and_caps() -> None:
    assert show("p/a b") == "'p/a b'"
    assert show("p/a\nb\x00") == "'p/a\\nb\\x00'"
    assert show("a" * 198) == "'" + "a" * 198 + "'"  # 200 characters: shown whole
    assert show("a" * 199) == "'" + "a" * 196 + "...'"


@given(st.text(max_size=400))
def test_show_is_always_one_printable_line(name: str) -> None:
    shown = show(name)
    assert shown.isprintable()
    assert len(shown) <= 201
    if len(repr(name)) <= 200:
        assert shown == repr(name)


# --- GzipSource ------------------------------------------------------------------------------


class Pieces(io.RawIOBase):
    """A raw stream that hands out the given pieces, one per read, whatever size is asked."""

    def __init__(self, *pieces: bytes) -> None:
        super().__init__()
        self._pieces = list(pieces)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""


def read_all(source: GzipSource, size: int = 100_000) -> bytes:
    out = []
    while piece := source.read(size):
        out.append(piece)
    return b"".join(out)


def test_gzip_source_hands_out_the_data_and_every_raw_byte() -> None:
    data = random.Random(7).randbytes(700_000) + bytes(300_000)  # several raw reads
    archive = bf.gzip_bytes(data)
    seen: list[bytes] = []
    source = GzipSource(io.BytesIO(archive), seen.append)
    assert read_all(source) == data
    assert b"".join(seen) == archive
    assert len(seen) > 1
    assert source.compressed_size == len(archive)
    assert source.header == archive[:10]
    assert source.produced == len(data)
    assert source.read(10) == b""
    assert source.produced == len(data)


def test_gzip_source_reads_exactly_what_is_asked_until_the_end() -> None:
    source = GzipSource(io.BytesIO(bf.gzip_bytes(b"0123456789")))
    assert [source.read(4), source.read(4), source.read(4), source.read(4)] == [
        b"0123",
        b"4567",
        b"89",
        b"",
    ]


def test_gzip_source_copes_with_short_raw_reads() -> None:
    archive = bf.gzip_bytes(b"hello, world\n" * 50)
    pieces = [archive[:10], *(archive[i : i + 1] for i in range(10, len(archive)))]
    source = GzipSource(cast(BinaryIO, Pieces(*pieces)))
    assert read_all(source, 7) == b"hello, world\n" * 50
    assert source.compressed_size == len(archive)


def test_trailing_data_in_a_later_raw_read_is_refused() -> None:
    archive = bf.gzip_bytes(b"x" * 1000)
    seen: list[bytes] = []
    source = GzipSource(cast(BinaryIO, Pieces(archive, b"!")), seen.append)
    with pytest.raises(BundleError, match=r"^trailing data after the gzip stream$"):
        read_all(source)
    assert seen == [archive, b"!"]


GZ = bf.gzip_bytes(b"some tar bytes" * 10)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not a gzip file (it is empty)"),
        (GZ[:9], "not a gzip file (bad magic bytes)"),
        (b"\x1f\x8b\x09" + GZ[3:], "not a gzip file (bad magic bytes)"),  # not deflate
        (b"PK\x03\x04" + GZ[4:], "not a gzip file (bad magic bytes)"),
        (GZ[:10], "truncated gzip stream (the file ends inside the data)"),
        (GZ[:-1], "truncated gzip stream (the file ends inside the data)"),
        (GZ + b"\x00", "trailing data after the gzip stream"),
        (GZ[:-5] + bytes([GZ[-5] ^ 1]) + GZ[-4:], "corrupt gzip data (bad checksum)"),  # CRC
        (GZ[:-1] + bytes([GZ[-1] ^ 1]), "corrupt gzip data (bad checksum)"),  # the length
        (GZ[:10] + b"\xff" * 64, "corrupt gzip data (invalid deflate block)"),
    ],
)
def test_gzip_source_refuses(raw: bytes, message: str) -> None:
    with pytest.raises(BundleError) as info:
        read_all(GzipSource(io.BytesIO(raw)))
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda gz: gz[:-5] + bytes([gz[-5] ^ 1]) + gz[-4:], "bad checksum"),
        (lambda gz: gz[:10] + b"\xff" * 64, "invalid deflate block"),
        (lambda gz: gz[:3] + b"\xe0" + gz[4:], "bad gzip header"),
    ],
)
def test_zlib_and_isal_errors_read_the_same_in_words(damage: Any, words: str) -> None:
    from isal import isal_zlib

    raw = damage(GZ)
    seen = []
    for module in (zlib, isal_zlib):
        try:
            inflater = module.decompressobj(wbits=31)
            inflater.decompress(raw)
            inflater.flush()
        except Exception as exc:  # each library's own error class
            seen.append(tarread.inflate_problem(exc))
    assert seen
    assert set(seen) == {words}


# --- TarStream -------------------------------------------------------------------------------


def stream_of(tar: bytes) -> TarStream:
    return TarStream(GzipSource(io.BytesIO(bf.gzip_bytes(tar))))


def members_of(tar: bytes) -> list[tuple[TarEntry, bytes]]:
    stream = stream_of(tar)
    return [(entry, b"".join(stream.chunks())) for entry in stream.entries()]


def test_entries_describe_each_member() -> None:
    long_name = "p/" + "d" * 120 + "/b"
    tar = bf.tar_bytes([("p/a", b"x" * 600, 0o644), (long_name, b"", 0o755), ("p/é", b"z", 0o644)])
    got = members_of(tar)
    assert [entry for entry, _ in got] == [
        TarEntry("p/a", 600, 0o644, bf.EPOCH, 0, 0),
        TarEntry(long_name, 0, 0o755, bf.EPOCH, 1, 512 + 1024),  # offset of its pax header
        TarEntry("p/é", 1, 0o644, bf.EPOCH, 2, 1536 + 512 + 512 + 512),
    ]
    assert [data for _, data in got] == [b"x" * 600, b"", b"z"]


def test_member_data_comes_in_chunks_of_at_most_one_mib() -> None:
    stream = stream_of(bf.tar_bytes([("p/big", bytes(CHUNK * 2 + CHUNK // 2), 0o644)]))
    next(stream.entries())
    assert [len(chunk) for chunk in stream.chunks()] == [CHUNK, CHUNK, CHUNK // 2]


def test_unread_member_data_is_skipped_and_still_checked() -> None:
    tar = bf.tar_bytes([("p/a", b"a" * 700, 0o644), ("p/b", b"b", 0o644)])
    assert [e.name for e in stream_of(tar).entries()] == ["p/a", "p/b"]
    bad = bytearray(tar)
    bad[512 + 700] = 1  # the padding after p/a's data
    with pytest.raises(BundleError, match=r"^non-zero padding after member 'p/a'$"):
        list(stream_of(bytes(bad)).entries())


def test_pax_size_overrides_the_header_size() -> None:
    tar = bf.finish_tar(pax_header(pax_record("size", "3")) + raw_header("p/x", 0) + pad(b"abc"))
    [(entry, data)] = members_of(tar)
    assert (entry.size, data, entry.offset) == (3, b"abc", 0)


def test_harmless_pax_records_are_ignored() -> None:
    records = b"".join(
        pax_record(key, "7")
        for key in ("mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment")
    )
    tar = bf.finish_tar(pax_header(records + pax_record("path", "p/long")) + regular("p/x", b"1"))
    [(entry, data)] = members_of(tar)
    assert (entry.name, entry.mtime, data) == ("p/long", bf.EPOCH, b"1")


def test_a_truncated_member_yields_what_there_is_then_fails() -> None:
    stream = TarStream(GzipSource(io.BytesIO(bf.gzip_bytes(raw_header("p/x", 10) + b"abc"))))
    entry = next(stream.entries())
    chunks = stream.chunks()
    assert next(chunks) == b"abc"
    with pytest.raises(BundleError, match=r"^member 'p/x' is truncated: it declares 10 bytes and "):
        next(chunks)
    assert entry.size == 10


@pytest.mark.parametrize(
    ("tar", "message"),
    [
        (raw_header("p/x", 1) + b"x", "the archive ends inside member padding"),
        (
            raw_header("././@PaxHeader", 100, typeflag=b"x") + b"10 path=x\n",
            "the archive ends inside the pax header at offset 0",
        ),
        (pax_header(pax_record("path", "p/x")), "the archive ends before the header that follows"),
        (regular("p/x", b"x"), "the archive ends before its end-of-archive marker"),
        (regular("p/x", b"x") + bytes(100), "the archive ends before its end-of-archive marker"),
    ],
)
def test_truncated_tar_streams(tar: bytes, message: str) -> None:
    with pytest.raises(BundleError) as info:
        members_of(tar)
    assert str(info.value).startswith(f"truncated tar stream ({message}")


@pytest.mark.parametrize(
    ("tail", "ok"),
    [(0, True), (512, True), (RECORD - 1024, True), (RECORD, True), (RECORD + 1, False)],
)
def test_zeros_after_the_end_marker(tail: int, ok: bool) -> None:
    """Up to one record of zeros may follow the two zero blocks (tar's blocking), no more."""
    tar = regular("p/x", b"x") + bytes(1024 + tail)
    if ok:
        assert [e.name for e, _ in members_of(tar)] == ["p/x"]
    else:
        with pytest.raises(BundleError, match=r"^data after the tar end-of-archive marker$"):
            members_of(tar)


def test_a_lone_zero_block_names_its_offset() -> None:
    with pytest.raises(BundleError, match=r"^lone zero block at offset 1024 \(expected two"):
        members_of(regular("p/x", b"x") + bytes(512) + regular("p/y", b"y") + bytes(1024))


# --- parse_header ----------------------------------------------------------------------------


def with_field(block: bytes, start: int, value: bytes, *, checksum: bool = True) -> bytes:
    """`block` with `value` written at `start`, and its checksum made right again."""
    out = bytearray(block)
    out[start : start + len(value)] = value
    if checksum:
        out[148:156] = b" " * 8
        out[148:156] = f"{sum(out):06o}\x00 ".encode()
    return bytes(out)


def test_prefix_and_name_fields_are_joined() -> None:
    block = with_field(raw_header("b.txt"), 345, b"p/a")
    assert tarread.parse_header(block, 0).name == "p/a/b.txt"
    full = raw_header("n" * 100)  # fills the name field: no NUL
    assert tarread.parse_header(full, 0).name == "n" * 100


def test_header_mode_keeps_the_permission_bits_only() -> None:
    assert tarread.parse_header(raw_header("p/x", mode=0o100755), 0).mode == 0o755
    assert tarread.parse_header(raw_header("p/x", mode=0o4755), 0).mode == 0o4755


def test_a_signed_checksum_is_accepted() -> None:
    block = raw_header("p/é")
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 256
    block = with_field(block, 148, f"{signed:06o}\x00 ".encode(), checksum=False)
    assert tarread.parse_header(block, 0).name == "p/é"
    wrong = with_field(block, 148, f"{signed + 1:06o}\x00 ".encode(), checksum=False)
    with pytest.raises(BundleError, match=r"^bad tar header checksum at offset 7$"):
        tarread.parse_header(wrong, 7)


def test_empty_numeric_fields_read_as_zero() -> None:
    block = with_field(raw_header("p/x", 5), 124, bytes(12))
    block = with_field(block, 136, b" " * 12)
    fields = tarread.parse_header(block, 0)
    assert (fields.size, fields.mtime) == (0, 0)


@pytest.mark.parametrize(
    ("start", "value", "message"),
    [
        (100, b"0000889\x00", "has a malformed mode field"),
        (100, b"\x80" + bytes(7), "has a base-256 mode field"),
        (136, b"12x45670000\x00", "has a malformed mtime field"),
        (136, b"\xff" * 12, "has a base-256 mtime field"),
        (124, b"1 2\x00", "has a malformed size field"),
    ],
)
def test_malformed_numeric_fields(start: int, value: bytes, message: str) -> None:
    block = with_field(raw_header("p/x"), start, value)
    with pytest.raises(BundleError, match=f"^tar header at offset 512 {message}$"):
        tarread.parse_header(block, 512)


def test_malformed_checksum_field() -> None:
    block = with_field(raw_header("p/x"), 148, b"zzzzzz\x00 ", checksum=False)
    with pytest.raises(
        BundleError, match=r"^tar header at offset 0 has a malformed checksum field$"
    ):
        tarread.parse_header(block, 0)


def test_a_name_that_is_not_utf8_names_its_offset() -> None:
    with pytest.raises(BundleError, match=r"^member name at offset 1536 is not UTF-8$"):
        tarread.parse_header(raw_header(b"p/\xc3"), 1536)
    with pytest.raises(BundleError, match="is not UTF-8"):
        tarread.parse_header(with_field(raw_header("x"), 345, b"\xff"), 0)  # in the prefix


# --- parse_pax and parse_pax_size ------------------------------------------------------------


def test_parse_pax_reads_every_record() -> None:
    body = pax_record("path", "p/a=b\nc") + pax_record("size", "12") + pax_record("uname", "")
    assert parse_pax(body, 0) == {"path": "p/a=b\nc", "size": "12", "uname": ""}
    assert parse_pax(b"", 0) == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"13 path=p/\xff\xfe\n", "pax header at offset 9: record 'path' is not UTF-8"),
        (
            b"11 p\xc3\xa4th=x\n",
            "pax header at offset 9 has an unsupported record 'p\ufffd\ufffdth'",
        ),
        (b"8 path=x\n", "pax header at offset 9 has a record length that does not match"),
        (b"10 path=x\r", "pax header at offset 9 has a record length that does not match"),
        (b"9 pathx\n\n", "pax header at offset 9 has a record without a keyword"),
        (b" 9 path=x\n", "pax header at offset 9 has a malformed record length"),
        (b"10 path=x\n6 a=b\n", "pax header at offset 9 has an unsupported record 'a'"),
        (b"10 path=x\n10 path=y\n", "pax header at offset 9 repeats the record 'path'"),
        (b"10 size=1\n10 size=1\n", "pax header at offset 9 repeats the record 'size'"),
    ],
)
def test_parse_pax_refuses(body: bytes, message: str) -> None:
    with pytest.raises(BundleError) as info:
        parse_pax(body, 9)
    assert str(info.value).startswith(message)


PAX_KEYS = ("path", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment")


@given(st.dictionaries(st.sampled_from(PAX_KEYS), st.text(max_size=300)))
def test_parse_pax_reads_back_any_records_a_writer_makes(records: dict[str, str]) -> None:
    body = b"".join(pax_record(key, value) for key, value in records.items())
    assert parse_pax(body, 0) == records


@pytest.mark.parametrize(("value", "size"), [("0", 0), ("007", 7), ("9" * 20, 10**20 - 1)])
def test_parse_pax_size(value: str, size: int) -> None:
    assert parse_pax_size(value, "p/x") == size


@pytest.mark.parametrize("value", ["", "-1", "+1", "1 ", "1e3", "0x10", "١٢", "²", "1" * 21])
def test_parse_pax_size_refuses(value: str) -> None:
    with pytest.raises(BundleError) as info:
        parse_pax_size(value, "p/\n")
    assert str(info.value) == f"member 'p/\\n' has a malformed pax size {value!r}"


def test_parse_pax_size_shows_at_most_40_characters() -> None:
    with pytest.raises(BundleError) as info:
        parse_pax_size("x" * 100, "p/x")
    assert str(info.value) == f"member 'p/x' has a malformed pax size {'x' * 40!r}"


# --- name_problem ----------------------------------------------------------------------------

LONG_OK = "/".join(["a" * 255] * 16)  # 4095 bytes, every component at its limit


@pytest.mark.parametrize(
    "name",
    [
        *("p/a", "p/.hidden", "p/...", "p/a b", "p/back\\slash", "p/é", "p/~", "p/-", "p/\u2028"),
        *("p/" + "a" * 255, "p/" + "é" * 127, LONG_OK),
    ],
)
def test_name_problem_accepts(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/abs", "has an absolute name"),
        ("/", "has an absolute name"),
        ("/../\n", "has an absolute name"),  # the first reason that applies
        ("p/a\x00", "has a control character in its name"),
        ("p/\x7f", "has a control character in its name"),
        ("p/\x85", "has a control character in its name"),
        ("p/../\n", "has a control character in its name"),
        ("..", "has a '.' or '..' component"),
        ("p/.", "has a '.' or '..' component"),
        ("p/./x", "has a '.' or '..' component"),
        ("p/..", "has a '.' or '..' component"),
        ("p//x/..", "has a '.' or '..' component"),
        ("", "has an empty path component"),
        ("p/", "has an empty path component"),
        ("p//x", "has an empty path component"),
        ("p/" + "a" * 256, "has a name longer than the limits"),
        ("p/" + "é" * 128, "has a name longer than the limits"),  # bytes, not characters
        (LONG_OK + "/b", "has a name longer than the limits"),
    ],
)
def test_name_problem_refuses(name: str, reason: str) -> None:
    assert name_problem(name) == f"member {show(name)} {reason}"


NAME_PARTS = st.one_of(
    st.sampled_from(["..", ".", "", "a", "é", "\\", " ", "\n", "\x7f", "..."]),
    st.text(max_size=4),
)


@given(st.lists(NAME_PARTS, max_size=6).map("/".join), st.booleans())
@example("a/../..", False)
@example("a/..", True)
def test_an_accepted_name_never_leaves_the_root(joined: str, absolute: bool) -> None:
    name = "/" + joined if absolute else joined
    if name_problem(name) is not None:
        return
    assert name
    assert not name.startswith("/")
    assert posixpath.normpath(name) == name  # no '.', '..', '//' or trailing '/' to resolve
    assert posixpath.normpath(posixpath.join("/root", name)).startswith("/root/")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name)


SAFE_PART = st.text(
    alphabet=st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="/"),
    min_size=1,
    max_size=40,
).filter(lambda p: p not in (".", "..") and len(p.encode()) <= 255)


@given(st.lists(SAFE_PART, min_size=1, max_size=8).map("/".join))
def test_a_name_of_safe_components_is_accepted(name: str) -> None:
    assert name_problem(name) is None


# --- check_type --------------------------------------------------------------------------------


@pytest.mark.parametrize("typeflag", [b"0", b"\x00"])
def test_check_type_accepts_regular_files(typeflag: bytes) -> None:
    check_type(typeflag, "p/x")  # no exception


@pytest.mark.parametrize(
    ("typeflag", "what"),
    [
        (b"1", "a hard link"),
        (b"2", "a symbolic link"),
        (b"3", "a character device"),
        (b"4", "a block device"),
        (b"5", "a directory"),
        (b"6", "a FIFO"),
        (b"7", "a contiguous file"),
        (b"g", "a global pax header"),
        (b"L", "a GNU long-name header"),
        (b"K", "a GNU long-link header"),
        (b"S", "a GNU sparse file"),
    ],
)
def test_check_type_refuses_everything_else(typeflag: bytes, what: str) -> None:
    with pytest.raises(BundleError) as info:
        check_type(typeflag, "p/\x1b[31m")
    assert str(info.value) == f"member 'p/\\x1b[31m' is {what}: only regular files are allowed"


@pytest.mark.parametrize("typeflag", [b"Z", b"x", b"9", b"\xff"])
def test_check_type_names_an_unknown_type(typeflag: bytes) -> None:
    with pytest.raises(BundleError) as info:
        check_type(typeflag, "p/x")
    assert str(info.value) == f"member 'p/x' has unknown tar type {typeflag!r}"
