from __future__ import annotations

import tarfile
from typing import Literal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from osbundle.errors import BuildError
from osbundle.tarstream.header import (
    MAX_OCTAL_SIZE,
    HeaderEncoder,
    check_name,
    pad_length,
    pax_record,
    split_ustar,
)

MTIME = 315532800

component = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="/\0"),
    min_size=1,
    max_size=40,
).filter(lambda c: c not in (".", ".."))
names = st.lists(component, min_size=1, max_size=12).map("/".join)
ascii_component = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="/"),
    min_size=1,
    max_size=60,
).filter(lambda c: c not in (".", ".."))
ascii_names = st.lists(ascii_component, min_size=1, max_size=8).map("/".join)
sizes = st.one_of(st.integers(0, 5000), st.sampled_from([0, 511, 512, 513, 8**11 - 1, 8**11]))
modes = st.sampled_from([0o644, 0o755])


def tarfile_header(name: str, size: int, mode: int, mtime: int, fmt: Literal[0, 1, 2]) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info.tobuf(fmt, "utf-8", "surrogateescape")


@given(name=names, size=sizes, mode=modes)
def test_same_bytes_as_tarfile(name: str, size: int, mode: int) -> None:
    ours = HeaderEncoder(MTIME).encode(name, size, mode)
    split = split_ustar(name)
    if split is None or split[0] == b"":
        assert ours == tarfile_header(name, size, mode, MTIME, tarfile.PAX_FORMAT)
    else:
        # tarfile's pax writer never uses the ustar prefix field; its ustar writer does.
        assume(size < MAX_OCTAL_SIZE)
        assert ours == tarfile_header(name, size, mode, MTIME, tarfile.USTAR_FORMAT)


@given(name=ascii_names, size=st.integers(0, 10**6), mode=modes)
def test_ustar_split_round_trips(name: str, size: int, mode: int) -> None:
    raw = HeaderEncoder(MTIME).encode(name, size, mode)
    split = split_ustar(name)
    if split is None:
        assert raw[156:157] == b"x"  # a pax header carries the path
        return
    assert len(raw) == 512
    info = tarfile.TarInfo.frombuf(raw, "utf-8", "surrogateescape")  # also checks the checksum
    assert (info.name, info.size, info.mode, info.mtime) == (name, size, mode, MTIME)
    assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")


def test_big_size_and_big_mtime_use_pax_records() -> None:
    raw = HeaderEncoder(8**11).encode("p/boot.wim", 8 << 30, 0o644)
    assert raw[:14] == b"././@PaxHeader"
    records = raw[512 : 512 + int(raw[124:135], 8)]
    assert records == b"19 size=8589934592\n20 mtime=8589934592\n"
    ustar = raw[1024:]
    assert ustar[124:136] == b"00000000000\0"
    assert ustar[136:148] == b"00000000000\0"


def test_non_ascii_name_gets_pax_path() -> None:
    raw = HeaderEncoder(MTIME).encode("p/Überblick/größe.txt", 3, 0o644)
    assert b"path=p/\xc3\x9cberblick/gr\xc3\xb6\xc3\x9fe.txt\n" in raw[512:1024]
    assert raw[1024:1046] == b"p/?berblick/gr??e.txt\0"


@pytest.mark.parametrize(
    "bad", ["", "/abs", "a//b", "a/./b", "a/../b", "..", "a/", "nul\0byte", "x/\udcff"]
)
def test_invalid_names_are_refused(bad: str) -> None:
    with pytest.raises(BuildError):
        check_name(bad)


def test_only_normalised_modes_and_sane_mtime() -> None:
    with pytest.raises(BuildError, match="not normalised"):
        HeaderEncoder(MTIME).encode("a", 1, 0o600)
    with pytest.raises(BuildError, match="before 1970"):
        HeaderEncoder(-1)


@given(
    keyword=st.sampled_from(["path", "size", "mtime"]),
    value=st.text(st.characters(codec="utf-8"), max_size=2000),
)
def test_pax_record_length_counts_itself(keyword: str, value: str) -> None:
    record = pax_record(keyword, value)
    length, _, rest = record.partition(b" ")
    assert int(length) == len(record)
    assert rest.endswith(b"\n")


@given(size=st.integers(0, 10**7))
def test_pad_length(size: int) -> None:
    assert (size + pad_length(size)) % 512 == 0
    assert 0 <= pad_length(size) < 512


@given(name=ascii_names.filter(lambda n: len(n) <= 100), size=sizes, mode=modes)
def test_short_ascii_names_take_the_one_block_path_with_tarfiles_bytes(
    name: str, size: int, mode: int
) -> None:
    ours = HeaderEncoder(MTIME).encode(name, size, mode)
    assert ours == tarfile_header(name, size, mode, MTIME, tarfile.PAX_FORMAT)
    assert len(ours) == (512 if size < MAX_OCTAL_SIZE else 1536)
