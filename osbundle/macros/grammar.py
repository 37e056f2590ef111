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
from dataclasses import dataclass, field

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
    """A file that cannot be rendered: `file:line:col: macro `x.y`: reason (hint: ...)`.

    The parts stay readable (`file`, `line`, `col`, `reason`, `hint`) so that `validate` can
    report the same problem as a diagnostic; `line` 0 means the file as a whole.
    """

    def __init__(
        self, file: str, line: int, col: int, reason: str, hint: str | None = None
    ) -> None:
        self.file, self.line, self.col, self.reason, self.hint = file, line, col, reason, hint
        where = f"{file}:{line}:{col}" if line else file
        super().__init__(f"{where}: {reason}" + (f" (hint: {hint})" if hint else ""))


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


def render_error(
    file: str, text: str, offset: int, name: str | None, reason: str, *, hint: str | None = None
) -> RenderError:
    line, col = line_col(text, offset)
    where = f"macro `{name}`: " if name else ""
    return RenderError(file, line, col, where + reason, hint)


def utf8_size(text: str) -> int:
    """The length of `text` in UTF-8 (a lone surrogate counted as its three bytes)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


@dataclass
class Output:
    """A rendered file being assembled piece by piece, within `limit` bytes of UTF-8.

    Each piece is measured before it is kept, so a file that would outgrow the limit is refused
    at the piece that crosses it, holding at most `limit` bytes of pieces, and never joined. A
    piece of the template's own text that crosses it is blamed on the last value added, if any:
    a template alone is within a file's limit.
    """

    file: str
    text: str  # the template, for the location of the piece that crosses the limit
    limit: int
    too_large: str  # the reason given then
    hint: str | None = None
    size: int = 0
    parts: list[str] = field(default_factory=list)
    last: tuple[int, str | None] = (0, None)  # where the last value went, and its macro

    def add(self, piece: str, offset: int, name: str | None = None) -> None:
        """Keep `piece`, from `offset` of the template: a value of macro `name`, or (None) the
        template's own text."""
        self.size += utf8_size(piece)
        if name is not None:
            self.last = (offset, name)
        if self.size > self.limit:
            offset, name = (offset, name) if name is not None or not self.last[1] else self.last
            raise render_error(self.file, self.text, offset, name, self.too_large, hint=self.hint)
        self.parts.append(piece)

    def joined(self) -> str:
        return "".join(self.parts)


def value_text(value: Scalar) -> str:
    """The text of a value: `true`/`false`, decimal integers, `repr` of floats, strings as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def lone_surrogate(text: str) -> bool:
    return _SURROGATE_RE.search(text) is not None
