"""`load_yaml` / `parse_yaml`: bytes and files in, YamlError for everything that is not YAML."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osbundle.diagnostics import DocPath
from osbundle.errors import InputError
from osbundle.yaml.document import MAX_BYTES, YamlDocument, YamlError
from osbundle.yaml.reader import load_yaml, parse_yaml
from tests.yaml_helpers import (
    BACKENDS,
    all_paths,
    at,
    fails,
    parse,
    python_parser,
    select_backend,
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with libyaml's parser, and again with PyYAML's pure-Python one."""
    return select_backend(request.param, monkeypatch)


PROFILE = 'id: demo\nos:\n  family: windows\n  release: "2016"\n'


@pytest.mark.parametrize(
    ("data", "where", "byte"),
    [
        (b"a: \xff\n", (1, 4), "0xff"),
        (b"a: 1\nb: caf\xc3\xa9 \xe9t\xe9\n", (2, 9), "0xe9"),
        (b"\xef\xbb\xbfa: [\xc3\xa9, \xc3]\n", (1, 8), "0xc3"),
        (b"\xff\xfea\x00:\x00", (1, 1), "0xff"),
    ],
)
def test_non_utf8_names_line_and_column(data: bytes, where: tuple[int, int], byte: str) -> None:
    error = fails(data)
    assert at(error) == where
    assert error.diagnostic.message.startswith(f"not valid UTF-8: byte {byte}")


@pytest.mark.parametrize(
    ("text", "where", "fragment"),
    [
        ("a: x\x00y\n", (1, 5), "NUL character (U+0000)"),
        ("a: 1\nb: '\x07'\n", (2, 5), "control character U+0007"),
        ("a: 1\r\nb: \x1b[0m\r\n", (2, 4), "control character U+001B"),
        ("a: \ufffe\n", (1, 4), "character U+FFFE"),
    ],
)
def test_forbidden_characters(text: str, where: tuple[int, int], fragment: str) -> None:
    error = fails(text)
    assert at(error) == where
    assert fragment in error.diagnostic.message


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        ("a:\n\tb: 1\n", (2, 1), "tabs"),
        ("a:\n  b: 1\n\tc: 2\n", (3, 1), "tabs"),
        ("a: b: c\n", (1, 5), "quote the value"),
        ("a: 'open\nb: 2\n", (3, 1), "not closed"),
        ("a:\n  b: 1\n c: 2\n", (3, 2), "indentation"),
        ("a: @x\n", (1, 4), "quote the value"),
        ("a: [1, 2\n", (2, 1), "not closed"),
        ("a: {b: 1 c: 2}\n", (1, 11), None),
    ],
)
def test_syntax_errors(text: str, where: tuple[int, int], hint: str | None, backend: str) -> None:
    error = fails(text)
    assert error.diagnostic.message.startswith("invalid YAML: ")
    assert at(error) == where
    if hint is not None:
        assert hint in (error.diagnostic.hint or "")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("os:\n  family: [a, b\n", ("os", "family")),
        ('os:\n  - family: "x\n', ("os", 0, "family")),
        ("os:\n  family: a: b\n", ("os",)),  # libyaml fails before it delivers the key
    ],
)
def test_syntax_error_path_is_as_far_as_known(text: str, path: DocPath, backend: str) -> None:
    assert fails(text).diagnostic.path == path


def test_yaml_error_is_an_input_error() -> None:
    error = fails("a: *x\n")
    assert isinstance(error, InputError)
    assert error.exit_code == 2
    assert str(error) == error.diagnostic.render()


def test_size_limit_in_parse_yaml() -> None:
    error = fails(b"#" * (MAX_BYTES + 1))
    assert "too large" in error.diagnostic.message
    assert parse(b"#" * MAX_BYTES).data is None


def test_size_limit_is_checked_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(1 << 34)  # sparse: 16 GiB that nobody should read
    reads: list[int] = []
    real_read = os.read

    def counting_read(fd: int, size: int) -> bytes:
        reads.append(size)
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", counting_read)
    with pytest.raises(YamlError, match="too large") as info:
        load_yaml(big)
    assert reads == []
    assert info.value.diagnostic.file == str(big)


def test_load_yaml_reads_a_file_and_uses_the_display_name(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text(PROFILE)
    doc = load_yaml(path, display="profiles/x/profile.yaml")
    assert doc.file == "profiles/x/profile.yaml"
    assert doc.data["os"] == {"family": "windows", "release": "2016"}
    assert load_yaml(path).file == str(path)
    path.write_text("a: *nope\n")
    with pytest.raises(YamlError, match=r"^profiles/x/profile.yaml:1:4: a: undefined alias"):
        load_yaml(path, display="profiles/x/profile.yaml")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(YamlError) as info:
        load_yaml(tmp_path / "missing.yaml")
    assert info.value.diagnostic.message == "cannot read the file: No such file or directory"
    assert at(info.value) == (1, 1)
    with pytest.raises(YamlError, match="cannot read the file: Is a directory"):
        load_yaml(tmp_path)


def test_os_reason_is_given(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    with pytest.raises(YamlError, match="cannot read the file: Not a directory"):
        load_yaml(plain / "profile.yaml")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text("a: 1\n")
    path.chmod(0)
    with pytest.raises(YamlError, match="cannot read the file: Permission denied"):
        load_yaml(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_fifo_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "profile.yaml"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            load_yaml(fifo)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "load_yaml blocked on a FIFO"
    [error] = outcome
    assert isinstance(error, YamlError)
    assert "not a regular file (a FIFO)" in error.diagnostic.message


def test_device_is_refused() -> None:
    with pytest.raises(YamlError, match="not a regular file"):
        load_yaml(Path("/dev/zero"))


# --- properties -----------------------------------------------------------------------------

_YAML12_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")


class _QuoteYaml12Numbers(yaml.SafeDumper):
    """`yaml.SafeDumper` that also quotes strings YAML 1.2 reads as numbers (`1e5`, `0o7`).

    Plain `safe_dump` writes those unquoted because YAML 1.1 reads them as strings; the loader
    reads them as YAML 1.2 numbers, by design (see test_safe_dump_of_yaml12_only_numbers).
    """


_QuoteYaml12Numbers.add_implicit_resolver(
    "tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789.")
)
_QuoteYaml12Numbers.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^0o[0-7]+$"), ["0"])


def json_scalars(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**40), max_value=10**40)
        | st.floats(allow_nan=False)
        | text
    )


def json_data(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_scalars(text),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(text, inner, max_size=5),
        max_leaves=40,
    )


def check_round_trip(data: Any, text: str) -> None:
    doc = parse(text)
    assert doc.data == data
    assert doc.problems == ()
    line_count = text.count("\n") + 1
    for path in all_paths(data):
        assert path in doc.marks
        assert 1 <= doc.marks[path].line <= line_count
        if path and isinstance(path[-1], str):
            assert path in doc.key_marks


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(json_data(st.text(max_size=30)), st.sampled_from([None, True, False]))
def test_round_trip_of_safe_dump(data: Any, flow: bool | None) -> None:
    check_round_trip(data, yaml.dump(data, Dumper=_QuoteYaml12Numbers, default_flow_style=flow))


@pytest.mark.slow
@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow])
@given(json_data(st.text(max_size=30)), st.sampled_from([None, True, False]))
def test_round_trip_of_safe_dump_many_examples(data: Any, flow: bool | None) -> None:
    check_round_trip(data, yaml.dump(data, Dumper=_QuoteYaml12Numbers, default_flow_style=flow))


# With allow_unicode, PyYAML writes NEL (U+0085) raw inside single quotes, where YAML reads it as
# a line break; PyYAML's own loader does not get the string back either (see the test below).
unicode_text = st.text(st.characters(codec="utf-8", exclude_characters="\x85"), max_size=30)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(json_data(unicode_text), st.sampled_from([None, True, False]))
def test_round_trip_of_safe_dump_with_unicode(data: Any, flow: bool | None) -> None:
    text = yaml.dump(data, Dumper=_QuoteYaml12Numbers, allow_unicode=True, default_flow_style=flow)
    check_round_trip(data, text)


def test_nel_written_raw_by_pyyaml_reads_as_pyyaml_reads_it(backend: str) -> None:
    text = yaml.safe_dump(["\x85"], allow_unicode=True)
    assert parse(text).data == yaml.safe_load(text) == [" "]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(json_data(st.text(max_size=30)))
def test_round_trip_with_the_pure_python_parser(data: Any) -> None:
    with python_parser():
        check_round_trip(data, yaml.dump(data, Dumper=_QuoteYaml12Numbers))


@given(st.dictionaries(st.text(max_size=20), json_scalars(st.text(max_size=30)), max_size=8))
def test_plain_safe_dump_round_trips_except_flagged_strings(data: dict[str, Any]) -> None:
    doc = parse(yaml.safe_dump(data))
    for key, value in data.items():
        if isinstance(value, str) and doc.data[key] != value:
            assert (key,) in doc.ambiguous  # a string YAML 1.2 reads as a number, e.g. `1e5`
        else:
            assert doc.data[key] == value


def test_safe_dump_of_yaml12_only_numbers() -> None:
    doc = parse(yaml.safe_dump({"a": "1e5", "b": "0o17", "c": "yes"}))
    assert doc.data == {"a": 100000.0, "b": 15, "c": "yes"}
    assert set(doc.ambiguous) == {("a",), ("b",)}


def outcome(data: bytes) -> YamlDocument | YamlError:
    try:
        return parse_yaml(data, "fuzz.yaml")
    except YamlError as exc:
        return exc


def check_outcome(result: YamlDocument | YamlError) -> None:
    if isinstance(result, YamlError):
        assert "\n" not in str(result)
        assert result.diagnostic.line >= 1
        assert result.diagnostic.col >= 1
        return
    for path in all_paths(result.data):
        assert result.mark_for(path) == result.marks[path]


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_ever_raise_yaml_error(data: bytes) -> None:
    check_outcome(outcome(data))
    with python_parser():
        check_outcome(outcome(data))


@settings(max_examples=300)
@given(st.text(alphabet="ab1: -[]{},&*!'\"#|>?\n\t~.%@`", max_size=60))
def test_yaml_like_text_only_ever_raises_yaml_error(text: str) -> None:
    check_outcome(outcome(text.encode()))
    with python_parser():
        check_outcome(outcome(text.encode()))
