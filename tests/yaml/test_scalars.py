from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.yaml.scalars import (
    MAX_NUMBER_CHARS,
    ScalarError,
    excerpt,
    resolve_plain,
    resolve_tagged,
    show_tag,
)

T = "tag:yaml.org,2002:"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("", None),
        ("~", None),
        ("null", None),
        ("Null", None),
        ("NULL", None),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("False", False),
        ("FALSE", False),
        ("0", 0),
        ("-0", 0),
        ("42", 42),
        ("+42", 42),
        ("-17", -17),
        ("0x1F", 31),
        ("0xff", 255),
        ("1.5", 1.5),
        ("-2.25", -2.25),
        (".5", 0.5),
        ("1.", 1.0),
        ("1.0e+3", 1000.0),
        ("9.4", 9.4),
        (".inf", math.inf),
        ("+.Inf", math.inf),
        ("-.INF", -math.inf),
    ],
)
def test_core_schema_values_resolve_without_hint(text: str, value: object) -> None:
    resolved, hint = resolve_plain(text)
    assert resolved == value
    assert type(resolved) is type(value)
    assert hint is None


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN"])
def test_nan_resolves_to_float_nan(text: str) -> None:
    value, hint = resolve_plain(text)
    assert isinstance(value, float)
    assert math.isnan(value)
    assert hint is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("yes", "YAML 1.1 reads `yes` as the boolean true"),
        ("Yes", "as the boolean true"),
        ("YES", "as the boolean true"),
        ("no", "as the boolean false"),
        ("NO", "as the boolean false"),
        ("on", "as the boolean true"),
        ("On", "as the boolean true"),
        ("off", "as the boolean false"),
        ("OFF", "as the boolean false"),
        ("y", "as the boolean true"),
        ("Y", "as the boolean true"),
        ("n", "as the boolean false"),
        ("N", "as the boolean false"),
        ("yEs", "some YAML tools read `yEs` as the boolean true"),
        ("oFf", "as the boolean false"),
        ("tRUE", "as the boolean true"),
        ("0644", "YAML 1.1 reads `0644` as the octal number 420"),
        ("0644", "or write 0o644 / 420"),
        ("012", "as the octal number 10"),
        ("-012", "as the octal number -10"),
        ("089", "YAML 1.2 tools read as the number 89"),
        ("007", "as the octal number 7"),
        ("12:30", "YAML 1.1 reads `12:30` as the base-60 number 750"),
        ("1:20:30", "as the base-60 number 4830"),
        ("1:20.5", "as a base-60 number"),
        ("2024-01-01", "YAML 1.1 reads `2024-01-01` as a date"),
        ("2001-12-14t21:59:43.10-05:00", "as a timestamp"),
        ("2001-12-14 21:59:43.10 -5", "as a timestamp"),
        ("0b101", "as the binary number 5"),
        ("-0b11", "as the binary number -3"),
        ("1_000", "as the number 1000"),
        ("0x_1F", "as the number 31"),
        ("+0x1F", "as the number 31"),
        ("1_000.5", "as the number 1000.5"),
    ],
)
def test_yaml11_surprises_stay_strings_with_a_hint(text: str, fragment: str) -> None:
    value, hint = resolve_plain(text)
    assert value == text
    assert hint is not None
    assert fragment in hint
    assert "quote it" in hint
    assert "\n" not in hint


@pytest.mark.parametrize(
    ("text", "value"),
    [("0o17", 15), ("1e5", 100000.0), ("1.0e5", 100000.0), ("+.5", 0.5), ("1E-2", 0.01)],
)
def test_yaml12_only_numbers_resolve_with_a_hint(text: str, value: object) -> None:
    resolved, hint = resolve_plain(text)
    assert resolved == value
    assert hint is not None
    assert f"YAML 1.1 reads `{text}` as a string" in hint


@pytest.mark.parametrize(
    "text", ["windows", "x86_64", "1.2.3", "-", ".", "none", "nope", "offline", "0x", "0o8", "+"]
)
def test_ordinary_strings_have_no_hint(text: str) -> None:
    assert resolve_plain(text) == (text, None)


@pytest.mark.parametrize(
    ("tag", "text", "value"),
    [
        ("str", "123", "123"),
        ("str", "yes", "yes"),
        ("int", "12", 12),
        ("int", "0644", 644),
        ("int", "0x10", 16),
        ("int", "0o10", 8),
        ("float", "1", 1.0),
        ("float", "1e3", 1000.0),
        ("float", "-.inf", -math.inf),
        ("bool", "true", True),
        ("bool", "FALSE", False),
        ("null", "", None),
        ("null", "~", None),
        ("null", "null", None),
    ],
)
def test_standard_tags_are_honoured(tag: str, text: str, value: object) -> None:
    resolved = resolve_tagged(T + tag, text)
    assert resolved == value
    assert type(resolved) is type(value)


def test_non_specific_tag_means_string() -> None:
    assert resolve_tagged("!", "12") == "12"


@pytest.mark.parametrize(
    ("tag", "text", "fragment"),
    [
        (T + "int", "abc", "is not a valid !!int"),
        (T + "int", "1_000", "is not a valid !!int"),
        (T + "float", "x", "is not a valid !!float"),
        (T + "bool", "yes", "is not a valid !!bool"),
        (T + "null", "x", "is not a valid !!null"),
        (T + "binary", "AAAA", "unsupported tag `!!binary`"),
        (T + "timestamp", "2024-01-01", "unsupported tag `!!timestamp`"),
        ("!custom", "x", "unsupported tag `!custom`"),
    ],
)
def test_bad_tagged_scalars_are_refused(tag: str, text: str, fragment: str) -> None:
    with pytest.raises(ScalarError, match=re.escape(fragment)):
        resolve_tagged(tag, text)


@pytest.mark.parametrize("text", ["9" * 600, "0x" + "f" * 600, "-" + "1" * 600 + ".5"])
def test_overlong_numbers_are_refused(text: str) -> None:
    with pytest.raises(ScalarError, match="too long"):
        resolve_plain(text)


def test_overlong_number_like_strings_stay_strings() -> None:
    text = "1_" * MAX_NUMBER_CHARS
    assert resolve_plain(text) == (text, None)


def test_excerpt_and_show_tag() -> None:
    assert excerpt("a\nb\tc") == "a\\nb\\tc"
    assert excerpt("x" * 100) == "x" * 37 + "..."
    assert show_tag(T + "int") == "!!int"
    assert show_tag("!foo") == "!foo"


@given(st.text(max_size=40))
def test_resolve_plain_never_raises_on_short_text(text: str) -> None:
    value, hint = resolve_plain(text)
    assert value is None or isinstance(value, str | int | float | bool)
    assert hint is None or "\n" not in hint


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_decimal_integers_round_trip(number: int) -> None:
    assert resolve_plain(str(number)) == (number, None)


@given(st.floats(allow_nan=False))
def test_floats_written_by_repr_round_trip(number: float) -> None:
    text = repr(number)
    if "e" in text and "." not in text:
        text = text.replace("e", ".0e")  # as PyYAML writes them
    text = {"inf": ".inf", "-inf": "-.inf"}.get(text, text)
    value, _ = resolve_plain(text)
    assert value == number
