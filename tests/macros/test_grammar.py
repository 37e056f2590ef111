from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.macros.grammar import MacroUse, find_macros
from tests.macros.strategies import NAMES

# --- find_macros -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#predefined.os.arch#", [("predefined.os.arch", 1, 1)]),
        ("x #server_settings.server0.locale# y", [("server_settings.server0.locale", 1, 3)]),
        ("a\nbb #_x.y-z.0#", [("_x.y-z.0", 2, 4)]),
        ("#a.b##c.d#", [("a.b", 1, 1), ("c.d", 1, 6)]),
        ("##a.b##", [("a.b", 1, 2)]),
        ("<v>#ns.1.-#</v>", [("ns.1.-", 1, 4)]),
        ("é #a.b#", [("a.b", 1, 3)]),
        ("line\r\n\t#a.b#", [("a.b", 2, 2)]),
    ],
)
def test_find_macros_finds(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert find_macros(text) == [MacroUse(*e) for e in expected]


@pytest.mark.parametrize(
    "text",
    [
        "#!/bin/sh",
        "#!/usr/bin/env python3.11#",
        "# comment #",
        "# a.b #",
        "echo ${#arr[@]} ${#x.y}",
        "<# PowerShell block comment #>",
        "<#a.b#>",
        "<#.SYNOPSIS\n  text.more\n#>",
        "##",
        "####",
        "#single#",
        "#1.5#",
        "#-a.b#",
        "#a.#",
        "#.a.b#",
        "#a..b#",
        "#a.b c#",
        "#a.b",
        "color: #fff;",
        "#ä.b#",
    ],
)
def test_find_macros_ignores(text: str) -> None:
    assert find_macros(text) == []


@given(NAMES, st.text(alphabet=st.characters(blacklist_characters="#<")), st.text("ab \n"))
def test_find_macros_reports_name_line_and_column(name: str, before: str, after: str) -> None:
    text = f"{before}#{name}#{after}"
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    assert find_macros(text) == [MacroUse(name, line, col)]
