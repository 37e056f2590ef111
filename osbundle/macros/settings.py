"""The macro table: the predefined values of a profile, plus what its settings files define.

Predefined macros (`predefined_values`), all from the profile:

- `predefined.profile.id`, `predefined.profile.name`, `predefined.profile.description`
- `predefined.os.family`, `predefined.os.release`, `predefined.os.arch`
- `predefined.installOptions.<key>` for every scalar of `install` (nested mappings flatten to
  dotted names, lists index from 0, as settings files do)
- appliance aliases: `predefined.globalSettings.ipAssignment` (install.ipAssignment),
  `predefined.otherSettings.installLocale` (install.locale),
  `predefined.otherSettings.timeZone` (install.timeZone), each only when the option is set.

Custom macros come from configuration settings files: a JSON object whose nested objects
flatten to dotted names under the file's namespace and whose arrays index from 0
(`#ns.servers.0.name#`). Only scalars are values: naming an object or array is an error, and so
is using a JSON `null` (it loads as `NullValue` and is refused when used). Keys that cannot be
written in a macro name (empty, or with characters outside `[A-Za-z0-9_-]`) are ignored.

`macro_table` is what the render stage and `validate`'s checks both call: one namespace rule,
one uniqueness check, one way of reading a settings file, problems as values.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from osbundle.errors import InputError, OsbundleError
from osbundle.macros.grammar import SEGMENT_RE, NullValue, Scalar, line_col, namespace_problem
from osbundle.model import Profile, SourceId
from osbundle.tarstream.sourcefile import read_whole

MAX_SETTINGS_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64


@dataclass(frozen=True)
class SettingsFile:
    """One settings file of a profile: its macro namespace, and the source file to read."""

    namespace: str
    shown: str  # how messages name the file
    source: str  # its path, for messages
    origin: SourceId  # the file as collected: only that file is read

    @property
    def size(self) -> int:
        return self.origin.size


@dataclass(frozen=True)
class SettingsProblem:
    """Why one settings file adds nothing to the table; `line` 0 means the file as a whole."""

    index: int  # of the file in the list `macro_table` was given
    message: str
    hint: str | None = None
    line: int = 0
    col: int = 0

    def render(self, shown: str) -> str:
        where = f"{shown}:{self.line}:{self.col}" if self.line else shown
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}: {self.message}{hint}"


class SettingsError(InputError):
    """A settings file that cannot be read as JSON macros; where in it, when known."""

    def __init__(self, shown: str, message: str, line: int = 0, col: int = 0) -> None:
        self.message, self.line, self.col = message, line, col
        super().__init__(SettingsProblem(0, message, None, line, col).render(shown))


def macro_table(
    profile: Profile, settings: Sequence[SettingsFile]
) -> tuple[dict[str, Scalar], list[SettingsProblem]]:
    """The predefined values plus every usable settings file's macros, and the problems found:
    a namespace that is not one, a namespace already taken, a file that does not load."""
    values = predefined_values(profile)
    owners: dict[str, SettingsFile] = {}
    problems: list[SettingsProblem] = []
    for index, file in enumerate(settings):
        invalid = namespace_problem(file.namespace)
        first = owners.setdefault(file.namespace, file)
        if invalid is not None:
            problems.append(SettingsProblem(index, *invalid))
        elif first is not file:
            taken = f"macro namespace {file.namespace!r} is already used by {first.shown!r}"
            problems.append(SettingsProblem(index, taken))
        else:
            try:
                values.update(read_settings(file))
            except SettingsError as exc:
                problems.append(SettingsProblem(index, exc.message, None, exc.line, exc.col))
            except OsbundleError as exc:  # unreadable or changed: sourcefile said which
                problems.append(SettingsProblem(index, str(exc)))
    return values, problems


def predefined_values(profile: Profile) -> dict[str, Scalar]:
    """The `predefined.*` macro table of `profile` (the list is in the module docstring)."""
    values: dict[str, Scalar] = {
        "predefined.profile.id": profile.id,
        "predefined.profile.name": profile.name,
        "predefined.profile.description": profile.description,
        "predefined.os.family": profile.os.family,
        "predefined.os.release": profile.os.release,
        "predefined.os.arch": profile.os.arch,
    }
    options = flatten("predefined.installOptions", profile.install)
    values.update((k, v) for k, v in options.items() if not isinstance(v, NullValue))
    aliases = {
        "predefined.globalSettings.ipAssignment": "ipAssignment",
        "predefined.otherSettings.installLocale": "locale",
        "predefined.otherSettings.timeZone": "timeZone",
    }
    for name, option in aliases.items():
        value = values.get(f"predefined.installOptions.{option}")
        if value is not None:
            values[name] = value
    return values


def read_settings(file: SettingsFile) -> dict[str, Scalar]:
    """The macros one settings file defines; SettingsError (or BuildError when the file cannot
    be read or changed since it was collected) otherwise."""
    if file.size > MAX_SETTINGS_BYTES:
        raise SettingsError(file.shown, "settings file is larger than 16 MiB")
    return parse_settings(file.namespace, read_whole(file.source, file.origin), file.shown)


def parse_settings(namespace: str, raw: bytes, display: str) -> dict[str, Scalar]:
    """The macros settings bytes define, named `namespace.<json path>`; `display` is how errors
    name the file. SettingsError for a bad namespace, non-UTF-8 or invalid JSON, a top level
    that is not an object, a duplicate key or nesting too deep."""
    invalid = namespace_problem(namespace)
    if invalid is not None:
        raise SettingsError(display, f"{invalid[0]} ({invalid[1]})")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = line_col(raw[: e.start].decode("utf-8", "replace"), e.start)
        raise SettingsError(display, "settings file is not valid UTF-8", line, col) from e
    document = _decode_json(text, display)
    if not isinstance(document, dict):
        raise SettingsError(display, "a settings file must hold a JSON object", 1, 1)
    try:
        return flatten(namespace, document)
    except InputError as e:
        raise SettingsError(display, str(e)) from e


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Infinite(ValueError):
    def __init__(self, literal: str) -> None:
        super().__init__(literal)
        self.literal = literal


def _finite(literal: str) -> float:
    """A JSON number as a float, refusing one too large for it (`1e400`): it would render as
    `inf`, which is not the number written."""
    value = float(literal)
    if math.isinf(value):
        raise _Infinite(literal)
    return value


def _decode_json(text: str, display: str) -> Any:
    try:
        return json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_no_constant, parse_float=_finite
        )
    except _Infinite as e:
        line, col = _number_position(text, e.literal)
        message = f"the number {e.literal[:40]} is too large for a float (it would be infinity)"
        raise SettingsError(display, message, line, col) from e
    except json.JSONDecodeError as e:
        raise SettingsError(display, f"invalid JSON: {e.msg}", e.lineno, e.colno) from e
    except _DuplicateKey as e:
        line, col = _duplicate_position(text, e.key)
        raise SettingsError(display, f"duplicate key {json.dumps(e.key)}", line, col) from e
    except ValueError as e:  # NaN / Infinity
        raise SettingsError(display, f"invalid JSON: {e}") from e
    except RecursionError as e:
        raise SettingsError(display, "settings file is nested too deeply") from e


_JSON_NUMBER = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')


def _number_position(text: str, literal: str) -> tuple[int, int]:
    """Where the first number token spelled `literal` is (outside strings)."""
    for token in _JSON_NUMBER.finditer(text):
        if token.group() == literal:
            return line_col(text, token.start())
    return 1, 1


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def _duplicate_position(text: str, key: str) -> tuple[int, int]:
    """Where the second occurrence of `key` in one object is (the text is valid JSON)."""
    stack: list[set[str] | None] = []
    previous = ""
    tokens = list(_JSON_TOKEN.finditer(text))
    for i, token in enumerate(tokens):
        t = token.group()
        if t in "{[":
            stack.append(set() if t == "{" else None)
        elif t in "}]":
            stack.pop()
        elif t.startswith('"') and stack and stack[-1] is not None and previous in "{,":
            following = tokens[i + 1].group() if i + 1 < len(tokens) else ""
            name = json.loads(t)
            if following == ":" and name in stack[-1] and name == key:
                return line_col(text, token.start())
            stack[-1].add(name)
        previous = t if t in "{}[]:," else '"'
    return 1, 1


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
