"""scan_bundle end to end: hostile archives fail cleanly everywhere, good ones inspect right."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import osbundle.bundle.read as bundle_read
from osbundle.bundle.inspect import inspect_bundle
from osbundle.bundle.unpack import unpack_bundle
from osbundle.bundle.verify import verify_bundle
from osbundle.errors import BundleError, InputError
from osbundle.kinds import KINDS, Kind
from osbundle.model import MAX_METADATA_BYTES, Member, MemberDigest
from osbundle.stages.metadata import inventory_json
from tests import bundle_factory as bf
from tests.bundle_factory import finish_tar, pax_header, pax_record, raw_header, regular, tar_case

TB = 1 << 40
BIG = 60 << 30  # the largest octal size field holds just under 64 GiB
GOOD = regular("p/custom/files/ok.txt", b"ok\n")


def good_archive() -> bytes:
    return bf.gzip_bytes(bf.tar_bytes(bf.bundle_entries()))


def flip_crc(archive: bytes) -> bytes:
    data = bytearray(archive)
    data[-8] ^= 0xFF
    return bytes(data)


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "not gzip": (lambda: b"this is not a gzip file at all", "not a gzip file"),
    "empty file": (lambda: b"", "not a gzip file"),
    "truncated gzip": (lambda: good_archive()[:-200], "truncated gzip stream"),
    "truncated gzip header": (lambda: good_archive()[:12], "truncated gzip stream"),
    "trailing garbage": (lambda: good_archive() + b"garbage", "trailing data after the gzip"),
    "second gzip member": (lambda: good_archive() * 2, "trailing data after the gzip"),
    "bad crc": (lambda: flip_crc(good_archive()), r"corrupt gzip data \(bad checksum\)$"),
    "bad deflate": (
        lambda: bf.gzip_bytes(b"")[:10] + b"\xff" * 64,
        r"corrupt gzip data \(invalid deflate block\)$",
    ),
    "dotdot name": (lambda: tar_case(regular("../x", b"x")), r"'\.\./x' has a '\.' or '\.\.'"),
    "absolute name": (lambda: tar_case(regular("/abs/x", b"x")), "'/abs/x' has an absolute name"),
    "inner dotdot": (
        lambda: tar_case(regular("p/a/../../b", b"x")),
        r"'p/a/\.\./\.\./b' has a '\.' or '\.\.'",
    ),
    "dot component": (lambda: tar_case(regular("p/./x", b"x")), r"has a '\.' or '\.\.'"),
    "empty component": (lambda: tar_case(regular("p//x", b"x")), "empty path component"),
    "control character": (lambda: tar_case(regular("p/a\nb", b"x")), "control character"),
    "non-utf8 name": (lambda: tar_case(raw_header(b"p/\xff\xfe") + bytes(512)), "not UTF-8"),
    "symlink": (
        lambda: tar_case(raw_header("p/custom/files/l", typeflag=b"2")),
        "'p/custom/files/l' is a symbolic link: only regular files",
    ),
    "hard link": (lambda: tar_case(raw_header("p/x", typeflag=b"1")), "is a hard link"),
    "char device": (lambda: tar_case(raw_header("p/x", typeflag=b"3")), "character device"),
    "block device": (lambda: tar_case(raw_header("p/x", typeflag=b"4")), "block device"),
    "directory": (lambda: tar_case(raw_header("p/d/", typeflag=b"5")), "is a directory"),
    "fifo": (lambda: tar_case(raw_header("p/x", typeflag=b"6")), "is a FIFO"),
    "gnu long name": (lambda: tar_case(raw_header("p/x", typeflag=b"L")), "GNU long-name"),
    "global pax": (lambda: tar_case(raw_header("p/x", typeflag=b"g")), "global pax header"),
    "unknown type": (lambda: tar_case(raw_header("p/x", typeflag=b"Z")), "unknown tar type"),
    "huge member truncated": (
        lambda: bf.gzip_bytes(raw_header("p/custom/files/big", BIG) + b"x" * 4096),
        f"'p/custom/files/big' is truncated: it declares {BIG} bytes and the archive "
        "ends after 4096",
    ),
    "huge pax header": (
        lambda: tar_case(raw_header("././@PaxHeader", BIG, typeflag=b"x")),
        f"pax header at offset 0 declares {BIG} bytes \\(limit 65536\\)",
    ),
    "pax bad length": (
        lambda: tar_case(pax_header(b"abc path=x\n") + GOOD),
        "malformed record length",
    ),
    "pax length too long": (
        lambda: tar_case(pax_header(b"999 path=x\n") + GOOD),
        "record length that does not match",
    ),
    "pax length zero": (
        lambda: tar_case(pax_header(b"0 path=x\n") + GOOD),
        "record length that does not match",
    ),
    "pax huge length digits": (
        lambda: tar_case(pax_header(b"99999999999999999999 path=x\n") + GOOD),
        "malformed record length",
    ),
    "pax no keyword": (
        lambda: tar_case(pax_header(pax_record("", "x")) + GOOD),
        "record without a keyword",
    ),
    "pax linkpath": (
        lambda: tar_case(pax_header(pax_record("linkpath", "/etc/passwd")) + GOOD),
        "unsupported record 'linkpath'",
    ),
    "pax sparse": (
        lambda: tar_case(pax_header(pax_record("GNU.sparse.map", "0,1")) + GOOD),
        "unsupported record 'GNU.sparse.map'",
    ),
    "pax repeated": (
        lambda: tar_case(pax_header(pax_record("path", "p/a") + pax_record("path", "p/b")) + GOOD),
        "repeats the record 'path'",
    ),
    "pax bad size": (
        lambda: tar_case(pax_header(pax_record("size", "12a")) + GOOD),
        "malformed pax size",
    ),
    "pax traversal": (
        lambda: tar_case(pax_header(pax_record("path", "p/../../etc/passwd")) + GOOD),
        r"'p/\.\./\.\./etc/passwd' has a '\.' or '\.\.'",
    ),
    "pax then pax": (
        lambda: tar_case(pax_header(pax_record("path", "p/a")) * 2 + GOOD),
        "two pax headers in a row",
    ),
    "pax huge size truncated": (
        lambda: bf.gzip_bytes(pax_header(pax_record("size", str(TB))) + GOOD),
        "declares 1099511627776 bytes and the archive ends",
    ),
    "outside top": (
        lambda: tar_case(GOOD + regular("q/custom/files/x", b"x")),
        "'q/custom/files/x' is not under the top directory 'p'",
    ),
    "top itself": (lambda: tar_case(regular("p", b"x")), "'p' is not under the top directory"),
    "bad top name": (
        lambda: tar_case(regular("bad name!/x", b"x")),
        "'bad name!' is not a valid profile name",
    ),
    "bad checksum": (
        lambda: tar_case(GOOD[:200] + b"X" + GOOD[201:]),
        "bad tar header checksum at offset 0",
    ),
    "gnu magic": (
        lambda: tar_case(raw_header("p/x", magic=b"ustar  \x00") + bytes(512)),
        "is a GNU tar header",
    ),
    "v7 header": (lambda: tar_case(raw_header("p/x", magic=bytes(8))), "not a POSIX ustar"),
    "base-256 size": (
        lambda: tar_case(raw_header("p/x", size_field=b"\x80" + bytes(11))),
        "base-256 size",
    ),
    "malformed size": (
        lambda: tar_case(raw_header("p/x", size_field=b"12345678abcd")),
        "malformed size field",
    ),
    "no end marker": (lambda: bf.gzip_bytes(GOOD), "truncated tar stream"),
    "lone zero block": (
        lambda: bf.gzip_bytes(GOOD + bytes(512) + GOOD + bytes(10240)),
        "lone zero block",
    ),
    "data after end": (
        lambda: bf.gzip_bytes(finish_tar(GOOD) + b"junk"),
        "data after the tar end-of-archive marker",
    ),
    "long zero tail": (
        lambda: bf.gzip_bytes(finish_tar(GOOD) + bytes(20480)),
        "data after the tar end-of-archive marker",
    ),
    "no members": (lambda: tar_case(b""), "holds no members"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_a_clean_bundle_error(case: str, tmp_path: Path) -> None:
    make, message = HOSTILE[case]
    bundle = bf.write_bundle(tmp_path, make())
    with pytest.raises(BundleError, match=message) as info:
        inspect_bundle(bundle)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"{bundle}: ")
    with pytest.raises(BundleError, match=message) as info:
        verify_bundle(bundle)
    assert str(info.value).startswith(f"{bundle}: ")
    with pytest.raises(BundleError) as info:
        unpack_bundle(bundle, tmp_path / "out")
    assert str(info.value).startswith(f"{bundle}: ")
    assert "Error -" not in str(info.value)  # zlib's and isa-l's own texts stay out
    assert sorted(p.name for p in tmp_path.iterdir()) == [bundle.name, bundle.name + ".sha256"]


def test_oversized_trailer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_read, "MAX_TRAILER_BYTES", 100)
    bundle = bf.good_bundle(tmp_path, [])  # no member: the inventory floor stays at 0
    with pytest.raises(BundleError, match=r"metadata\.json declares \d+ bytes \(limit 100\)"):
        inspect_bundle(bundle)


def test_missing_and_unreadable_paths_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such bundle"):
        inspect_bundle(tmp_path / "nope.tar.gz")
    with pytest.raises(InputError, match="not a regular file"):
        verify_bundle(tmp_path)


def test_memory_stays_bounded_for_a_large_member(tmp_path: Path) -> None:
    big = bf.FMember("custom/files/zeros.bin", bytes(48 << 20), "file")
    bundle = bf.good_bundle(tmp_path, [big])
    tracemalloc.start()
    try:
        report = verify_bundle(bundle)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok, report.problems
    assert peak < 12 << 20  # one 1 MiB chunk plus buffers, never the 48 MiB member


def test_long_and_unicode_names_use_pax_path(tmp_path: Path) -> None:
    members = [
        bf.FMember("custom/files/" + "d" * 120 + "/x.txt", b"1", "file"),
        bf.FMember("custom/files/é-ü.txt", b"2", "file"),
    ]
    info = inspect_bundle(bf.good_bundle(tmp_path, members))
    assert [m.path for m in info.members] == [m.path for m in members]


@given(
    path=st.text(min_size=1, max_size=40),
    kind=st.sampled_from(sorted(KINDS)),
    size=st.integers(min_value=0, max_value=1 << 40),
    name=st.none() | st.text(max_size=10),
)
def test_the_inventory_floor_never_exceeds_what_the_builder_writes(
    path: str, kind: Kind, size: int, name: str | None
) -> None:
    member = Member(path, kind, 0o644, size, data=b"", name=name)
    digest = MemberDigest(f"p/{path}", size, "a" * 64, "b" * 32)
    item = inventory_json(member, digest)
    assert bundle_read.inventory_floor(path) <= len(item.encode()) + 1  # its comma


def test_members_that_metadata_json_could_not_list_are_refused_as_they_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = [bf.FMember(f"custom/files/{i:03d}.txt", b"", "file") for i in range(40)]
    bundle = bf.good_bundle(tmp_path, members)
    floor = sum(bundle_read.inventory_floor(m.path) for m in members[:20])
    monkeypatch.setattr(bundle_read, "MAX_TRAILER_BYTES", floor - 1)
    seen: list[str] = []
    real = bundle_read.hash_payload

    def counted(stream: Any, entry: Any, rel: str, **options: Any) -> Any:
        seen.append(rel)
        return real(stream, entry, rel, **options)

    monkeypatch.setattr(bundle_read, "hash_payload", counted)
    with pytest.raises(BundleError, match=rf"^{bundle}: more members than a metadata\.json within"):
        verify_bundle(bundle)
    assert len(seen) == 19  # refused at the 20th member, long before the trailers


def test_the_reader_accepts_what_the_builder_may_write() -> None:
    assert bundle_read.MAX_TRAILER_BYTES == MAX_METADATA_BYTES


def test_a_metadata_json_over_the_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 16 << 20  # the real limit, 1 GiB, lowered: the test need not write over 1 GiB
    assert limit < MAX_METADATA_BYTES
    monkeypatch.setattr(bundle_read, "MAX_TRAILER_BYTES", limit)
    body = regular("p/custom/files/a.txt", b"") + regular("p/metadata.json", b" " * (limit + 1))
    bundle = bf.write_bundle(tmp_path, tar_case(body))
    tracemalloc.start()
    try:
        with pytest.raises(BundleError) as info:
            verify_bundle(bundle)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(info.value) == (
        f"{bundle}: metadata.json declares {limit + 1} bytes (limit {limit})"
    )
    assert peak < 8 << 20
