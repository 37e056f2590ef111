"""What `macros.render` and `macros.yaml` share: the macro grammar, values, errors."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from osbundle.errors import InputError

Scalar = str | int | float | bool

MACRO_RE = re.compile(r"(?<!<)#([A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)+)#")
SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]+")
MAX_DEPTH = 64

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


def flatten(prefix: str, node: Mapping[str, Any] | Sequence[Any]) -> dict[str, Scalar]:
    """Scalars below `node` by dotted name: objects by key, arrays by index, null as NullValue.

    Keys a macro name cannot spell (empty, or not `[A-Za-z0-9_-]+`) are left out.
    """
    out: dict[str, Scalar] = {}
    _flatten_into(out, prefix, node, 0)
    return out


def _flatten_into(out: dict[str, Scalar], prefix: str, node: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InputError(f"`{prefix}`: nested deeper than {MAX_DEPTH} levels")
    if isinstance(node, Mapping):
        items: Any = ((k, v) for k, v in node.items() if SEGMENT_RE.fullmatch(str(k)))
    elif isinstance(node, list | tuple):
        items = enumerate(node)
    elif node is None:
        out[prefix] = NullValue()
        return
    elif isinstance(node, str | int | float | bool):
        out[prefix] = node
        return
    else:
        raise InputError(f"`{prefix}`: {type(node).__name__} is not a JSON value")
    for key, value in items:
        _flatten_into(out, f"{prefix}.{key}", value, depth + 1)
