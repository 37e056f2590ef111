"""`names.py`: the reader's name check, and the build's component, length and Windows rules."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from osbundle import names
from osbundle.bundle.tarread import name_problem, show
from osbundle.names import (
    MAX_COMPONENT_BYTES,
    MAX_NAME_BYTES,
    WINDOWS_MAX_PATH,
    component_problem,
    member_name_problem,
    path_length_problem,
    windows_key,
)


def test_the_reader_checks_names_with_the_shared_function() -> None:
    name = "p/" + "a" * (MAX_COMPONENT_BYTES + 1)
    assert member_name_problem(name) == "has a name longer than the limits"
    assert name_problem(name) == f"member {show(name)} has a name longer than the limits"
    assert name_problem("p/" + "a" * MAX_COMPONENT_BYTES) is None


@pytest.mark.parametrize(
    "component",
    [
        "CON",
        "con",
        "Prn",
        "aux",
        "NUL",
        "nul.txt",
        "NUL.tar.gz",
        "COM1",
        "com9.inf",
        "LPT1",
        "lpt5.sys",
        "COM\u00b9",
        "lpt\u00b2.txt",
        "COM\u00b3",
        "nul .txt",
        "CONIN$",
        "conout$",
    ],
)
def test_windows_device_names_are_refused(component: str) -> None:
    why = component_problem(component, windows=True)
    assert why is not None
    assert "reserved device name" in why
    assert component_problem(component, windows=False) is None


@pytest.mark.parametrize(
    "component", ["CONSOLE", "com10", "COM0", "LPT", "nul_x", "xnul", "auxiliary.txt", "a.con"]
)
def test_names_that_only_look_like_devices_are_accepted(component: str) -> None:
    assert component_problem(component, windows=True) is None


@pytest.mark.parametrize(
    ("component", "fragment"),
    [
        ("trail.", "ends with a dot or a space"),
        ("trail ", "ends with a dot or a space"),
        ("a..", "ends with a dot or a space"),
        ("a<b", "'<'"),
        ("a>b", "'>'"),
        ("c:d", "':'"),
        ('say"hi"', "'\"'"),
        ("a|b", "'|'"),
        ("what?", "'?'"),
        ("star*", "'*'"),
        ("back\\slash", "'\\\\'"),
        ("tab\there", "'\\t'"),
        ("bell\x07", "'\\x07'"),
    ],
)
def test_windows_refuses_characters_and_trailing_dots(component: str, fragment: str) -> None:
    why = component_problem(component, windows=True)
    assert why is not None
    assert fragment in why
    if "\t" not in component and "\x07" not in component:
        assert component_problem(component, windows=False) is None


@pytest.mark.parametrize(
    "char", ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2069"]
)
@pytest.mark.parametrize("windows", [False, True])
def test_bidi_controls_are_refused_everywhere(char: str, windows: bool) -> None:
    why = component_problem(f"invoice{char}fdp.exe", windows)
    assert why is not None
    assert "bidirectional" in why


def test_components_over_the_byte_limit_are_refused_everywhere() -> None:
    for windows in (False, True):
        assert component_problem("a" * MAX_COMPONENT_BYTES, windows) is None
        assert "256 bytes" in (component_problem("a" * 256, windows) or "")
        # 86 three-byte characters: 258 bytes, although only 86 characters
        assert "258 bytes" in (component_problem("\u20ac" * 86, windows) or "")
    assert component_problem("\ud800", windows=False) == "is not valid UTF-8"


def test_path_length_limits() -> None:
    at_limit = "p/" + "/".join(["d" * 200] * 21)[: MAX_NAME_BYTES - 2]
    assert len(at_limit.encode()) == MAX_NAME_BYTES
    assert path_length_problem(at_limit, windows=False) is None
    over = at_limit + "x"
    assert f"{MAX_NAME_BYTES + 1} bytes" in (path_length_problem(over, windows=False) or "")
    windows = "p/" + "x" * (WINDOWS_MAX_PATH - 2)
    assert path_length_problem(windows, windows=True) is None
    assert path_length_problem(windows + "x", windows=False) is None
    assert "201 characters" in (path_length_problem(windows + "x", windows=True) or "")
    # Windows counts UTF-16 units: a character outside the BMP is two of them
    astral = "p/" + "\U0001f600" * 99
    assert path_length_problem(astral, windows=True) is None
    assert "202 characters" in (path_length_problem(astral + "\U0001f600", windows=True) or "")


def test_windows_key() -> None:
    assert windows_key("A/Caf\u00e9") == windows_key("a/cafe\u0301")
    assert windows_key("x./y ") == windows_key("X/Y") == "x/y"
    assert windows_key("a. ./b") == "a/b"
    assert windows_key("plain/name") == "plain/name"


COMPONENT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=8),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=60, max_size=130),
    st.sampled_from(["a" * 255, "\u00e9" * 128, "con.txt", "x.", "\u202e"]),
)


@given(
    top=st.from_regex(r"(?!\.\.?$)[A-Za-z0-9._-]{1,100}", fullmatch=True),
    parts=st.lists(COMPONENT, min_size=1, max_size=30),
    windows=st.booleans(),
)
@example(top="p", parts=["a" * 255] * 16, windows=False)
@example(top="p", parts=["a" * 255] * 17, windows=False)
def test_the_build_rules_cover_the_reader_limits(top: str, parts: list[str], windows: bool) -> None:
    """Components the build accepts, in a name whose length it accepts, make a name the reader
    accepts unless a component is no component at all (a control character, `/`, `.`, `..`:
    split_relative and the walk refuse those, and sources checks member_name_problem last)."""
    full = "/".join([top, "custom/files", *parts])
    accepted = (
        all(component_problem(p, windows) is None for p in parts)
        and path_length_problem(full, windows) is None
    )
    not_components = any(p in (".", "..") or "/" in p or names._CONTROL.search(p) for p in parts)
    if accepted and not not_components:
        assert name_problem(full) is None


_OLD_SUSPECT = re.compile(r"^/|(^|/)\.\.?(/|$)|//|/$|^$|[\x00-\x1f\x7f-\x9f]")

NAME_PIECES = st.one_of(
    st.sampled_from(["", ".", "..", "...", ".a", "a.", "/", "//", "\n", "\x85", "\u2028", "\xa0"]),
    st.text(max_size=5),
)


@given(st.lists(NAME_PIECES, max_size=8).map("".join))
@example("./a")
@example("a/.")
@example("a/../b")
@example(".hidden/x")
def test_the_quick_test_agrees_with_the_detailed_checks(name: str) -> None:
    """member_name_problem's quick test (`_plain`, string methods instead of the regex it
    replaced) may only say True where the detailed checks find nothing."""
    if names._plain(name):
        assert _OLD_SUSPECT.search(name) is None
        assert not any(p in ("", ".", "..") for p in name.split("/"))


def test_the_reader_and_the_profile_schema_agree_on_the_top_directory() -> None:
    from osbundle.bundle.read import PROFILE_NAME
    from osbundle.resources import load_schema

    for schema in ("profile.schema.json", "metadata.schema.json"):
        document = load_schema(schema)
        name = (
            document["properties"]["name"]
            if schema.startswith("profile")
            else (document["properties"]["profile"]["properties"]["name"])
        )
        assert name["pattern"] == f"^{PROFILE_NAME.pattern}$"
