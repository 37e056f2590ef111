"""YAML 1.2 core-schema scalars, and hints for plain scalars that YAML 1.1 reads differently.

Only `true`/`false`, `null`/`~`/empty, decimal/`0x`/`0o` integers and floats resolve; every other
plain scalar stays the string written. Where a YAML 1.1 reader (PyYAML's default, many older
tools) would see a boolean, a number or a date instead, the caller gets a one-line hint.
"""

from __future__ import annotations

import re
from typing import Final

Scalar = str | int | float | bool | None

TAG_PREFIX: Final = "tag:yaml.org,2002:"
STR_TAG: Final = TAG_PREFIX + "str"
MAP_TAG: Final = TAG_PREFIX + "map"
SEQ_TAG: Final = TAG_PREFIX + "seq"
NON_SPECIFIC_TAG: Final = "!"
SUPPORTED_SCALAR_TAGS: Final = "!!str, !!int, !!float, !!bool and !!null"

_INF = float("inf")
_CORE_WORDS: Final[dict[str, Scalar]] = {
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    **{
        f"{sign}{inf}": -_INF if sign == "-" else _INF
        for sign in ("", "+", "-")
        for inf in (".inf", ".Inf", ".INF")
    },
    **{nan: float("nan") for nan in (".nan", ".NaN", ".NAN")},
}
_NULL_WORDS: Final = frozenset({"", "~", "null", "Null", "NULL"})

_NUMBER_FIRST: Final = frozenset("0123456789+-.")
_WORD_FIRST: Final = frozenset("yYnNoOtTfF")
_YAML11_TRUE: Final = frozenset({"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"})
_YAML11_FALSE: Final = frozenset({"n", "N", "no", "No", "NO", "off", "Off", "OFF"})
_BOOLISH_TRUE: Final = frozenset({"y", "yes", "on", "true"})
_BOOLISH_FALSE: Final = frozenset({"n", "no", "off", "false"})

# Longer numbers are refused: Python may refuse to convert them to and from text (see
# `sys.set_int_max_str_digits`, whose lowest setting is 640), and no profile needs one.
MAX_NUMBER_CHARS: Final = 500

_DEC_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_ANY_DEC_INT = re.compile(r"[-+]?[0-9]+")
_HEX_INT = re.compile(r"0x[0-9a-fA-F]+")
_OCT_INT = re.compile(r"0o[0-7]+")
_LEADING_ZERO = re.compile(r"[-+]?0[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
# The YAML 1.1 float forms (PyYAML's regex, minus `_`, which never reaches this check).
_FLOAT_11 = re.compile(r"[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?|\.[0-9]+(?:[eE][-+][0-9]+)?")
_INT_11 = re.compile(
    r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
    r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"
)
_SEXAGESIMAL_FLOAT_11 = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*")
_UNDERSCORE_FLOAT_11 = re.compile(
    r"[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
)
_DATE_11 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIMESTAMP_11 = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?"
)
_YAML11_OTHER: Final = (
    (_SEXAGESIMAL_FLOAT_11, "a base-60 number"),
    (_DATE_11, "a date"),
    (_TIMESTAMP_11, "a timestamp"),
)
_ONE_LINE = str.maketrans(
    {
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\x85": "\\x85",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)
_KEEP = "quote it to keep the string"


class ScalarError(ValueError):
    """A scalar that cannot be what its explicit tag says, or a tag that is not supported."""


def excerpt(text: str, limit: int = 40) -> str:
    """`text` shortened and escaped so that it fits in a one-line message."""
    short = text if len(text) <= limit else text[: limit - 3] + "..."
    return short.translate(_ONE_LINE)


def show_tag(tag: str) -> str:
    """`tag:yaml.org,2002:int` -> `!!int`, other tags as written."""
    return "!!" + tag[len(TAG_PREFIX) :] if tag.startswith(TAG_PREFIX) else tag


def resolve_plain(text: str) -> tuple[Scalar, str | None]:
    """An untagged plain scalar's YAML 1.2 core value, and a hint where YAML 1.1 differs."""
    if not text:
        return None, None
    if text in _CORE_WORDS:
        return _CORE_WORDS[text], None
    first = text[0]
    if first in _NUMBER_FIRST:
        return _resolve_number(text)
    if first in _WORD_FIRST:
        return text, _bool_hint(text)
    return text, None


def resolve_tagged(tag: str, text: str) -> Scalar:
    """A scalar with an explicit tag: the standard scalar tags are honoured, others refused."""
    if tag in (STR_TAG, NON_SPECIFIC_TAG):
        return text
    name = tag[len(TAG_PREFIX) :] if tag.startswith(TAG_PREFIX) else None
    if name == "null" and text in _NULL_WORDS:
        return None
    if name == "bool" and isinstance(_CORE_WORDS.get(text), bool):
        return _CORE_WORDS[text]
    if name == "int":
        return _tagged_int(text)
    if name == "float":
        return _tagged_float(text)
    if name in ("null", "bool"):
        expected = "true or false" if name == "bool" else "null, ~ or nothing"
        raise ScalarError(f"`{excerpt(text)}` is not a valid !!{name}: write {expected}")
    raise ScalarError(
        f"unsupported tag `{excerpt(show_tag(tag))}`: only {SUPPORTED_SCALAR_TAGS} are allowed"
    )


def _tagged_int(text: str) -> int:
    _check_length(text)
    if _ANY_DEC_INT.fullmatch(text):
        return int(text, 10)
    if _HEX_INT.fullmatch(text):
        return int(text[2:], 16)
    if _OCT_INT.fullmatch(text):
        return int(text[2:], 8)
    raise ScalarError(f"`{excerpt(text)}` is not a valid !!int")


def _tagged_float(text: str) -> float:
    _check_length(text)
    word = _CORE_WORDS.get(text)
    if isinstance(word, float):
        return word
    if _FLOAT.fullmatch(text):
        return float(text)
    if _HEX_INT.fullmatch(text) or _OCT_INT.fullmatch(text):
        return float(_tagged_int(text))
    raise ScalarError(f"`{excerpt(text)}` is not a valid !!float")


def _check_length(text: str) -> None:
    if len(text) > MAX_NUMBER_CHARS:
        raise ScalarError(
            f"the number `{excerpt(text)}` is too long (more than {MAX_NUMBER_CHARS} characters)"
        )


def _is_core_number(text: str) -> bool:
    return any(p.fullmatch(text) for p in (_DEC_INT, _HEX_INT, _OCT_INT, _FLOAT))


def _resolve_number(text: str) -> tuple[Scalar, str | None]:
    if len(text) > MAX_NUMBER_CHARS:
        if _is_core_number(text):
            _check_length(text)
        return text, None
    if _DEC_INT.fullmatch(text):
        return int(text, 10), None
    if _HEX_INT.fullmatch(text) or _OCT_INT.fullmatch(text):
        value = int(text[2:], 16 if text[1] == "x" else 8)
        return value, None if text[1] == "x" else _only_12(text, value)
    if _LEADING_ZERO.fullmatch(text):
        return text, _leading_zero_hint(text)
    if _FLOAT.fullmatch(text):
        number = float(text)
        return number, None if _FLOAT_11.fullmatch(text) else _only_12(text, number)
    return text, _yaml11_number_hint(text)


def _only_12(text: str, value: float) -> str:
    return f"YAML 1.1 reads `{text}` as a string, YAML 1.2 as the number {value}: {_KEEP}"


def _leading_zero_hint(text: str) -> str:
    sign = "-" if text[0] == "-" else ""
    digits = text.lstrip("+-")
    if set(digits) <= set("01234567"):
        value = int(digits, 8)
        spelled = f"-{value}" if sign else f"0o{digits.lstrip('0') or '0'} / {value}"
        return (
            f"YAML 1.1 reads `{text}` as the octal number {sign}{value}: "
            f"{_KEEP}, or write {spelled}"
        )
    decimal = int(digits, 10)
    return (
        f"`{text}` has a leading zero, which YAML 1.2 tools read as the number {sign}{decimal}: "
        f"{_KEEP}, or write {sign}{decimal}"
    )


def _yaml11_number_hint(text: str) -> str | None:
    if _INT_11.fullmatch(text):
        value = _yaml11_int(text)
        if text.lstrip("+-").startswith("0b"):
            return (
                f"YAML 1.1 reads `{text}` as the binary number {value}: {_KEEP}, or write {value}"
            )
        if ":" in text:
            return f"YAML 1.1 reads `{text}` as the base-60 number {value}: {_KEEP}"
        return f"YAML 1.1 reads `{text}` as the number {value}: {_KEEP}, or write {value}"
    if _UNDERSCORE_FLOAT_11.fullmatch(text):
        number = float(text.replace("_", ""))
        return f"YAML 1.1 reads `{text}` as the number {number}: {_KEEP}, or write {number}"
    for pattern, what in _YAML11_OTHER:
        if pattern.fullmatch(text):
            return f"YAML 1.1 reads `{text}` as {what}: {_KEEP}"
    return None


def _yaml11_int(text: str) -> int:
    """PyYAML's `construct_yaml_int`: `_` ignored, 0b/0x/leading-0 octal, `a:b:c` base 60."""
    digits = text.replace("_", "")
    sign = -1 if digits[0] == "-" else 1
    digits = digits.lstrip("+-")
    if digits.startswith("0b"):
        return sign * int(digits[2:] or "0", 2)
    if digits.startswith("0x"):
        return sign * int(digits[2:] or "0", 16)
    if ":" in digits:
        value = 0
        for part in digits.split(":"):
            value = value * 60 + int(part)
        return sign * value
    if len(digits) > 1 and digits[0] == "0":
        return sign * int(digits, 8)
    return sign * int(digits or "0", 10)


def _bool_hint(text: str) -> str | None:
    lower = text.lower()
    if lower in _BOOLISH_TRUE:
        meaning = "true"
    elif lower in _BOOLISH_FALSE:
        meaning = "false"
    else:
        return None
    who = (
        "YAML 1.1 reads"
        if text in _YAML11_TRUE or text in _YAML11_FALSE
        else "some YAML tools read"
    )
    return f"{who} `{text}` as the boolean {meaning}: write true or false, or {_KEEP}"
