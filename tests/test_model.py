"""The boundary values: BuildResult and its JSON, canonical JSON, the bundle format's constants."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from osbundle.model import (
    DEFAULT_EPOCH,
    EXEC_MODE,
    FILE_MODE,
    METADATA,
    MODES,
    SHA256SUMS,
    TRAILERS,
    BuildResult,
    canonical_json,
    compact_json,
)

APPLIANCE_KEYS = {"filename", "jobID", "result", "messages"}

# to_json rounds seconds to 3 decimals: drawn as whole milliseconds, they survive it exactly.
seconds = st.integers(0, 10**9).map(lambda ms: ms / 1000)

results = st.builds(
    BuildResult,
    filename=st.text(),
    job_id=st.text(),
    result=st.sampled_from(["success", "failed"]),
    messages=st.lists(st.text(), max_size=4).map(tuple),
    path=st.text(),
    sha256=st.text(),
    tar_sha256=st.text(),
    size=st.integers(0, 2**63),
    members=st.integers(0, 2**31),
    seconds=seconds,
    compressor=st.text(),
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
json_documents = st.dictionaries(st.text(), json_values, max_size=6)

STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


def test_the_trailers_and_modes_of_the_bundle_format() -> None:
    assert TRAILERS == (METADATA, SHA256SUMS)
    assert TRAILERS == ("metadata.json", "SHA256SUMS")
    assert MODES == (FILE_MODE, EXEC_MODE) == (0o644, 0o755)
    assert DEFAULT_EPOCH == 315532800  # 1980-01-01T00:00:00Z


def test_failed_is_a_failed_result_with_one_message() -> None:
    result = BuildResult.failed("disk full", job_id="7")
    assert result.result == "failed"
    assert result.messages == ("disk full",)
    assert result.job_id == "7"
    assert (result.filename, result.path, result.sha256, result.size) == ("", "", "", 0)
    assert BuildResult.failed("x").job_id == ""


def test_appliance_json_has_exactly_the_appliance_s_four_keys() -> None:
    result = BuildResult("b.tar.gz", "3", "success", ("a", "b"), path="/o/b.tar.gz", size=9)
    assert result.appliance_json() == {
        "filename": "b.tar.gz",
        "jobID": "3",
        "result": "success",
        "messages": ["a", "b"],
    }
    assert list(BuildResult.failed("no").appliance_json()) == [
        "filename",
        "jobID",
        "result",
        "messages",
    ]


def test_to_json_names_its_fields_and_rounds_seconds() -> None:
    result = BuildResult(
        "b.tar.gz",
        "3",
        "success",
        path="/o/b.tar.gz",
        sha256="s",
        tar_sha256="t",
        size=10,
        members=2,
        seconds=1.23456,
        compressor="isal",
    )
    assert result.to_json() == {
        "filename": "b.tar.gz",
        "jobID": "3",
        "result": "success",
        "messages": [],
        "path": "/o/b.tar.gz",
        "sha256": "s",
        "tarSha256": "t",
        "size": 10,
        "members": 2,
        "seconds": 1.235,
        "compressor": "isal",
    }


def test_from_json_keeps_defaults_for_missing_fields_and_fails_anything_not_success() -> None:
    assert BuildResult.from_json({}) == BuildResult("", "", "failed")
    assert BuildResult.from_json({"result": "Success"}).result == "failed"
    assert BuildResult.from_json({"result": "success", "size": "12"}) == BuildResult(
        "", "", "success", size=12
    )


@given(results)
def test_to_json_holds_the_appliance_json(result: BuildResult) -> None:
    appliance = result.appliance_json()
    assert set(appliance) == APPLIANCE_KEYS
    full = result.to_json()
    assert full.items() >= appliance.items()
    assert list(full)[:4] == list(appliance)  # the appliance's fields first


@given(results)
def test_from_json_reads_back_to_json(result: BuildResult) -> None:
    assert BuildResult.from_json(result.to_json()) == result
    stored = json.loads(json.dumps(result.to_json()))  # as a job record stores it
    assert BuildResult.from_json(stored) == result


def test_compact_json_sorts_keys_and_has_no_insignificant_whitespace() -> None:
    value = {"b": [1, {"y": None, "x": "a b"}], "a": {"d": True, "c": 1.5}}
    assert compact_json(value) == '{"a":{"c":1.5,"d":true},"b":[1,{"x":"a b","y":null}]}'


def test_non_ascii_is_kept_as_is() -> None:
    value = {"ü": "naïve", "k": "日本 😀"}
    assert compact_json(value) == '{"k":"日本 😀","ü":"naïve"}'
    assert canonical_json(value) == '{"k":"日本 😀","ü":"naïve"}\n'.encode()
    assert b"\\u" not in canonical_json(value)


def test_canonical_json_is_compact_json_in_utf8_with_one_newline() -> None:
    assert canonical_json({}) == b"{}\n"
    assert canonical_json({"a": "\n"}) == b'{"a":"\\n"}\n'


def sorted_keys_everywhere(text: str) -> bool:
    ordered = True

    def check(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal ordered
        keys = [k for k, _ in pairs]
        ordered = ordered and keys == sorted(keys)
        return dict(pairs)

    json.loads(text, object_pairs_hook=check)
    return ordered


@given(json_documents)
def test_canonical_json_round_trips_sorted_and_compact(document: dict[str, Any]) -> None:
    data = canonical_json(document)
    assert data.endswith(b"\n")
    assert not data.endswith(b"\n\n")
    text = data.decode("utf-8")
    assert text[:-1] == compact_json(document)
    assert json.loads(data) == document
    assert sorted_keys_everywhere(text)
    outside_strings = STRING_LITERAL.sub("", text[:-1])
    assert not re.search(r"\s", outside_strings), outside_strings
    reordered = dict(reversed(list(document.items())))
    assert canonical_json(reordered) == data


@given(st.text())
def test_any_string_is_written_unescaped_but_for_json_s_own_escapes(text: str) -> None:
    encoded = compact_json(text)
    assert json.loads(encoded) == text
    plain = [c for c in text if c not in '"\\' and ord(c) >= 0x20]
    for c in plain:
        assert c in encoded
