"""metadata.json and SHA256SUMS read piece by piece (bundle/metastream.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.bundle.check import parse_sums
from osbundle.bundle.metastream import BEGIN, MEMBERS, NotStreamable, canonical_fields, sums_lines
from osbundle.model import canonical_json, compact_json
from tests import bundle_factory as bf

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    return (data[i : i + size] for i in range(0, len(data), size))


def read_back(data: bytes, size: int) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in canonical_fields(pieces(data, size)):
        if key != MEMBERS:
            document[key] = value
        elif value is BEGIN:
            document[MEMBERS] = []
        else:
            document[MEMBERS].append(value)
    return document


@given(
    st.dictionaries(st.text(), JSON, max_size=4),
    st.lists(st.dictionaries(st.text(), JSON, max_size=3), max_size=4),
    st.integers(1, 40),
)
def test_a_canonical_document_reads_back_in_any_chunks(
    fixed: dict[str, Any], items: list[dict[str, Any]], size: int
) -> None:
    document = {**fixed, MEMBERS: items}
    assert read_back(canonical_json(document), size) == document


def test_the_builders_document_reads_back() -> None:
    document = bf.metadata_doc(bf.Profile(), bf.windows_members())
    assert read_back(bf.canonical(document), 1 << 20) == document


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":1, "members":[]}\n',  # whitespace
        b'{"b":1,"a":2}\n',  # keys unsorted
        b'{"a":1,"a":2}\n',  # a key repeated
        b'{"a":1}',  # no newline
        b'{"a":1}\n\n',  # more after it
        b'{"a":NaN}\n',
        b'{"a":"\\u00e9"}\n',  # an escape canonical JSON does not use
        b'{"a":"\\ud800"}\n',  # a lone surrogate
        b'{"members":[{"b":1,"a":2}]}\n',  # an item not canonical
        b'{"members":[1,]}\n',
        b'{"a":1.00}\n',
        b'{"a":"\xff"}\n',  # not UTF-8
        b'{"a":1',  # truncated
        b"[]\n",
    ],
)
def test_anything_but_the_canonical_form_is_not_streamable(raw: bytes) -> None:
    with pytest.raises(NotStreamable):
        read_back(raw, 3)


def test_a_number_split_across_chunks_is_read_whole() -> None:
    assert read_back(compact_json({"a": 123456789}).encode() + b"\n", 2) == {"a": 123456789}


@given(
    st.lists(
        st.tuples(st.text(min_size=1).filter(lambda t: "\r" not in t), st.sampled_from("0a")),
        max_size=5,
    ),
    st.integers(1, 30),
)
def test_sums_lines_read_what_parse_sums_reads(pairs: list[tuple[str, str]], size: int) -> None:
    lines = []
    for path, digit in pairs:
        escaped = path.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append(("\\" if escaped != path else "") + digit * 64 + "  " + escaped + "\n")
    raw = "".join(lines).encode()
    expected, bad = parse_sums(raw)
    if bad:
        with pytest.raises(NotStreamable):
            list(sums_lines(pieces(raw, size)))
    else:
        assert list(sums_lines(pieces(raw, size))) == expected


@pytest.mark.parametrize("raw", [b"x\n", b"0" * 64 + b"  a", b"\xff\n"])
def test_malformed_sums_are_not_streamable(raw: bytes) -> None:
    with pytest.raises(NotStreamable):
        list(sums_lines(pieces(raw, 5)))
