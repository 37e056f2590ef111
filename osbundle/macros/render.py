"""Appliance-style macros in unattend files and scripts: find them, build the table, render.

A macro is `#name#` where `name` is two or more segments `[A-Za-z0-9_-]+` joined by `.`, the
first starting with a letter or `_`; an opening `#` right after `<` (a PowerShell `<#` block
comment) never starts one. `#!/bin/sh`, `# comment #`, `${#arr[@]}`, `##` and `#1.5#` are not
macros. Substitution is one plain pass: a substituted value is never scanned again, no code runs,
and there is no escape syntax (a file that must keep a literal `#a.b#` needs `render: false`).

Predefined macros (`predefined_values`), all from the profile:

- `predefined.profile.id`, `predefined.profile.name`, `predefined.profile.description`
- `predefined.os.family`, `predefined.os.release`, `predefined.os.arch`
- `predefined.installOptions.<key>` for every scalar of `install` (nested mappings flatten to
  dotted names, lists index from 0, as settings files do)
- appliance aliases: `predefined.globalSettings.ipAssignment` (install.ipAssignment),
  `predefined.otherSettings.installLocale` (install.locale),
  `predefined.otherSettings.timeZone` (install.timeZone), each only when the option is set.

Custom macros come from configuration settings files (`load_settings`): a JSON object whose
nested objects flatten to dotted names under the namespace and whose arrays index from 0
(`#ns.servers.0.name#`). Only scalars are values: naming an object or array is an error, and so
is using a JSON `null` (it loads as `NullValue` and is refused when used). Keys that cannot be
written in a macro name (empty, or with characters outside `[A-Za-z0-9_-]`) are ignored.

Values render as text: booleans `true`/`false`, integers in decimal, floats by `repr`. Escaping
per format (`render_text`):

- windows-unattend, autoyast (XML): `& < > " '` become entities and tab/LF/CR character
  references, so a value fits element text and attribute values alike; inside a CDATA section
  the value goes in verbatim and must not contain `]]>` or CR. XML-illegal characters (C0 controls
  other than tab/LF/CR, U+FFFE, U+FFFF, lone surrogates) are refused. A DOCTYPE or ENTITY
  declaration in the file is refused, and the rendered file must parse as XML.
- kickstart, esxi-ks: verbatim; values holding a line break or NUL, or starting with `%`, are
  refused, and so is any rendered line that reads `%end`.
- autoinstall (YAML): see `osbundle.macros.yaml`; the rendered file must parse as YAML.
- script: verbatim; values holding NUL, CR or LF are refused.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from osbundle import kinds as families
from osbundle.errors import InputError
from osbundle.macros.grammar import (
    LINE_BREAKS,
    MACRO_RE,
    NullValue,
    Refused,
    RenderError,
    Scalar,
    flatten,
    line_col,
    lone_surrogate,
    render_error,
    value_text,
)
from osbundle.model import Profile

__all__ = [
    "MacroUse",
    "NullValue",
    "RenderError",
    "RenderFormat",
    "Scalar",
    "find_macros",
    "load_settings",
    "parse_settings",
    "predefined_values",
    "render_format",
    "render_text",
]

NAMESPACE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
MAX_SETTINGS_BYTES = 16 * 1024 * 1024

RenderFormat = Literal[
    "windows-unattend", "autoyast", "kickstart", "esxi-ks", "autoinstall", "script"
]
XML_FORMATS: frozenset[str] = frozenset({"windows-unattend", "autoyast"})
_UNATTEND_FORMATS: Mapping[str, RenderFormat] = {
    "windows": "windows-unattend",
    "sles": "autoyast",
    "rhel": "kickstart",
    "esxi": "esxi-ks",
    "ubuntu": "autoinstall",
}


@dataclass(frozen=True)
class MacroUse:
    """One macro occurrence; `line` and `col` are 1-based (col counts characters)."""

    name: str
    line: int
    col: int


def find_macros(text: str) -> list[MacroUse]:
    """Every macro in `text`, in order (leftmost, non-overlapping)."""
    return [MacroUse(m.group(1), *line_col(text, m.start())) for m in MACRO_RE.finditer(text)]


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


def load_settings(namespace: str, path: str | Path, display: str) -> dict[str, Scalar]:
    """The macros a configuration settings JSON file defines, named `namespace.<json path>`.

    `display` is how errors name the file. Raises InputError for an unreadable, oversized,
    non-UTF-8 or invalid file, a top level that is not an object, or a duplicate key.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_SETTINGS_BYTES + 1)
    except OSError as e:
        raise InputError(f"{display}: cannot read settings file: {e.strerror or e}") from e
    if len(raw) > MAX_SETTINGS_BYTES:
        raise InputError(f"{display}: settings file is larger than 16 MiB")
    return parse_settings(namespace, raw, display)


def parse_settings(namespace: str, raw: bytes, display: str) -> dict[str, Scalar]:
    """`load_settings` for bytes already read."""
    if not NAMESPACE_RE.fullmatch(namespace) or namespace == "predefined":
        raise InputError(
            f"{display}: `{namespace}` cannot be a macro namespace (letters, digits, `_` and `-`, "
            "starting with a letter or `_`, not `predefined`); set `namespace:` in the profile"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = line_col(raw[: e.start].decode("utf-8", "replace"), e.start)
        raise InputError(f"{display}:{line}:{col}: settings file is not valid UTF-8") from e
    document = _decode_json(text, display)
    if not isinstance(document, dict):
        raise InputError(f"{display}:1:1: a settings file must hold a JSON object")
    return flatten(namespace, document)


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


def _decode_json(text: str, display: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise InputError(f"{display}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from e
    except _DuplicateKey as e:
        line, col = _duplicate_position(text, e.key)
        raise InputError(f"{display}:{line}:{col}: duplicate key {json.dumps(e.key)}") from e
    except ValueError as e:  # NaN / Infinity
        raise InputError(f"{display}: invalid JSON: {e}") from e
    except RecursionError as e:
        raise InputError(f"{display}: settings file is nested too deeply") from e


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


def render_format(family: str, kind: str, path: str) -> RenderFormat:
    """How a member of `kind` at bundle `path` renders for an OS `family`."""
    if kind == "script":
        return "script"
    fmt = _UNATTEND_FORMATS.get(family)
    if kind != "unattend" or fmt is None:
        raise InputError(f"{path}: no macro rendering for {kind} files of family {family!r}")
    if not families.accepts(family, kind, path.rsplit("/", 1)[-1]):
        raise InputError(f"{path}: {families.rejected_message(family, kind, path)}")
    return fmt


def render_text(text: str, values: Mapping[str, Scalar], fmt: RenderFormat, file: str) -> str:
    """`text` with every macro replaced by its value, escaped for `fmt`.

    Raises RenderError (`file:line:col: macro `name`: reason`) for an unknown macro, a value the
    format cannot hold, or a rendered XML/YAML file that does not parse.
    """
    if fmt in XML_FORMATS:
        _refuse_declarations(text, file)
        cdata = [(m.start(), m.end()) for m in _CDATA_RE.finditer(text)]
        out = _substitute(text, values, file, lambda v, at: _xml_value(v, _inside(cdata, at)))
        _check_xml(out, file)
    elif fmt == "autoinstall":
        from osbundle.macros.yaml import check_yaml, render_yaml  # 6 ms: only autoinstall needs it

        out = render_yaml(text, lambda name, at: lookup(values, name, at, text, file), file)
        check_yaml(out, file)
    elif fmt in ("kickstart", "esxi-ks"):
        out = _substitute(text, values, file, lambda v, _: _ks_value(v))
        _check_ks_lines(text, out, file)
    else:
        out = _substitute(text, values, file, lambda v, _: _script_value(v))
    return out


def lookup(values: Mapping[str, Scalar], name: str, offset: int, text: str, file: str) -> Scalar:
    """The value of macro `name` used at `offset` of `text`, or a RenderError saying why not."""
    value = values.get(name)
    if isinstance(value, NullValue):
        raise render_error(file, text, offset, name, "is null in its settings file")
    if value is not None:
        return value
    prefix = name + "."
    if any(key.startswith(prefix) for key in values):
        raise render_error(file, text, offset, name, "names an object, not a value")
    close = difflib.get_close_matches(name, list(values), n=1, cutoff=0.75)
    hint = f" (did you mean `{close[0]}`?)" if close else ""
    raise render_error(file, text, offset, name, "unknown macro" + hint)


def _substitute(
    text: str, values: Mapping[str, Scalar], file: str, escape: Callable[[Scalar, int], str]
) -> str:
    parts: list[str] = []
    pos = 0
    for m in MACRO_RE.finditer(text):
        value = lookup(values, m.group(1), m.start(), text, file)
        try:
            rendered = escape(value, m.start())
        except Refused as e:
            raise render_error(file, text, m.start(), m.group(1), e.reason) from e
        parts += (text[pos : m.start()], rendered)
        pos = m.end()
    parts.append(text[pos:])
    return "".join(parts)


_CDATA_RE = re.compile(r"<!\[CDATA\[.*?(?:\]\]>|\Z)", re.DOTALL)
_DECLARATION_RE = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}
    | {"\t": "&#9;", "\n": "&#10;", "\r": "&#13;"}
)


def _inside(spans: list[tuple[int, int]], offset: int) -> bool:
    """Whether `offset` falls inside one of `spans` (sorted, disjoint)."""
    i = bisect.bisect_right(spans, (offset, offset)) - 1
    return i >= 0 and spans[i][0] < offset < spans[i][1]


def _xml_value(value: Scalar, in_cdata: bool) -> str:
    text = value_text(value)
    bad = _XML_ILLEGAL_RE.search(text)
    if bad:
        raise Refused(f"value holds U+{ord(bad.group()):04X}, which XML cannot carry")
    if in_cdata:
        if "]]>" in text:
            raise Refused("value holds `]]>`, which would end the CDATA section")
        if "\r" in text:
            raise Refused("value holds a CR, which XML turns into LF inside CDATA")
        return text
    return text.translate(_XML_ESCAPES)


def _refuse_declarations(text: str, file: str) -> None:
    found = _DECLARATION_RE.search(text)
    if found:
        reason = "DOCTYPE and ENTITY declarations are not allowed in files that are rendered"
        raise render_error(file, text, found.start(), None, reason)


def _check_xml(out: str, file: str) -> None:
    from xml.etree import ElementTree  # only rendered XML needs it, not every start

    # Our own output, and DOCTYPE/ENTITY declarations were refused: no entity expansion.
    parser = ElementTree.XMLParser()  # noqa: S314
    try:
        parser.feed(out.encode("utf-8"))
        parser.close()
    except ElementTree.ParseError as e:
        line, col = e.position
        reason = str(e).split(":", 1)[0]
        raise RenderError(f"{file}:{line}:{col + 1}: rendered XML does not parse: {reason}") from e


def _ks_value(value: Scalar) -> str:
    text = _single_line(value)
    if text.lstrip().startswith("%"):
        raise Refused("value starts with `%`, which would start a kickstart section")
    return text


def _script_value(value: Scalar) -> str:
    text = value_text(value)
    for char, label in (("\x00", "NUL"), ("\r", "CR"), ("\n", "LF")):
        if char in text:
            raise Refused(f"value holds a {label} character")
    if lone_surrogate(text):
        raise Refused("value holds a lone surrogate")
    return text


def _single_line(value: Scalar) -> str:
    text = value_text(value)
    if "\x00" in text:
        raise Refused("value holds a NUL character")
    if any(c in LINE_BREAKS for c in text):
        raise Refused("value holds a line break")
    if lone_surrogate(text):
        raise Refused("value holds a lone surrogate")
    return text


def _check_ks_lines(text: str, out: str, file: str) -> None:
    """Refuse a substitution that turned a line into `%end`."""
    source_lines = text.split("\n")
    offset = 0
    for source, rendered in zip(source_lines, out.split("\n"), strict=True):
        if source != rendered and rendered.split()[:1] == ["%end"]:
            first = next(_macros_in(source))
            reason = "the rendered line reads `%end`, which would end the kickstart section"
            raise render_error(file, text, offset + first.start(), first.group(1), reason)
        offset += len(source) + 1


def _macros_in(line: str) -> Iterator[re.Match[str]]:
    return MACRO_RE.finditer(line)
