"""The macro grammar and what every part of `macros` shares: names, values, suggestions, errors.

A macro is `#name#` where `name` is two or more segments `[A-Za-z0-9_-]+` joined by `.`, the
first starting with a letter or `_`; an opening `#` right after `<` (a PowerShell `<#` block
comment) never starts one. `#!/bin/sh`, `# comment #`, `${#arr[@]}`, `##` and `#1.5#` are not
macros. A settings file's namespace is the first segment of the macros it defines.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from osbundle.errors import InputError

Scalar = str | int | float | bool

MACRO_RE = re.compile(r"(?<!<)#([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+)#")
SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]+")
NAMESPACE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
RESERVED_NAMESPACE = "predefined"
# How close a known name must be to an unknown one to be offered as "did you mean" (difflib).
SUGGESTION_CUTOFF = 0.75

# Everything `str.splitlines` breaks at: what line-oriented consumers may treat as a line end.
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


class RenderError(InputError):
    """A file that cannot be rendered; the message is `file:line:col: macro `x.y`: reason`."""


class NullValue(str):
    """A JSON `null` in a settings file: a `str` so tables stay `dict[str, Scalar]`.

    Rendering refuses it ("is null in its settings file") instead of guessing a text for it.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "NullValue()"


class Refused(Exception):
    """A value the target format cannot hold at that place; `reason` is the message tail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MacroUse:
    """One macro occurrence; `line` and `col` are 1-based (col counts characters)."""

    name: str
    line: int
    col: int


def find_macros(text: str) -> list[MacroUse]:
    """Every macro in `text`, in order (leftmost, non-overlapping)."""
    return [MacroUse(m.group(1), *line_col(text, m.start())) for m in MACRO_RE.finditer(text)]


def namespace_problem(namespace: str) -> tuple[str, str] | None:
    """(message, hint) when `namespace` cannot be a settings file's macro namespace."""
    if NAMESPACE_RE.fullmatch(namespace) and namespace != RESERVED_NAMESPACE:
        return None
    return (
        f"{namespace!r} cannot be a macro namespace",
        "set `namespace:` to letters, digits, _ or -, starting with a letter or _, "
        f"and not `{RESERVED_NAMESPACE}`",
    )


def suggestion(name: str, known: Iterable[str]) -> str | None:
    """`did you mean #x#?` for the known macro closest to an unknown `name`, if one is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=SUGGESTION_CUTOFF)
    return f"did you mean #{close[0]}#?" if close else None


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of `offset` in `text`."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def render_error(file: str, text: str, offset: int, name: str | None, reason: str) -> RenderError:
    line, col = line_col(text, offset)
    where = f"macro `{name}`: " if name else ""
    return RenderError(f"{file}:{line}:{col}: {where}{reason}")


def value_text(value: Scalar) -> str:
    """The text of a value: `true`/`false`, decimal integers, `repr` of floats, strings as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def lone_surrogate(text: str) -> bool:
    return _SURROGATE_RE.search(text) is not None
