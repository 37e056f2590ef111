"""Rendering: every macro in a file replaced by its value, escaped for the file's format.

Substitution is one plain pass: a substituted value is never scanned again, no code runs, and
there is no escape syntax (a file that must keep a literal `#a.b#` needs `render: false`).
Values render as text: booleans `true`/`false`, integers in decimal, floats by `repr`. Escaping
per format (`render_text`; the format of a file is `kinds.render_format`):

- windows-unattend, autoyast (XML): `& < > " '` become entities and tab/LF/CR character
  references, so a value fits element text and attribute values alike; inside a CDATA section
  the value goes in verbatim and must not contain `]]>` or CR. XML-illegal characters (C0 controls
  other than tab/LF/CR, U+FFFE, U+FFFF, lone surrogates) are refused. A DOCTYPE or ENTITY
  declaration in the file is refused, and the rendered file must parse as XML.
- kickstart, esxi-ks: verbatim; values holding a line break or NUL, or starting with `%`, are
  refused, and so is any rendered line that reads `%end`.
- autoinstall (YAML): see `osbundle.macros.yaml`; the rendered file must parse as YAML.
- script: verbatim; values holding NUL, CR or LF are refused.

A file to render is read whole (`read_template`): at most 16 MiB of UTF-8 text. What rendering
makes of it is capped before it exists (`Output`, `RenderBudget`): at most MAX_RENDERED_BYTES
(16 MiB, the limit on what goes in) per file and MAX_RENDERED_TOTAL (256 MiB) for all the files
of one build, which the render stage holds in memory until they are archived. Without the caps,
one 10 MiB settings value used 300 times made a 3 GB script.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from osbundle.kinds import RenderFormat
from osbundle.macros.grammar import (
    LINE_BREAKS,
    MACRO_RE,
    NullValue,
    Output,
    Refused,
    RenderError,
    Scalar,
    lone_surrogate,
    render_error,
    suggestion,
    value_text,
)
from osbundle.model import SourceId
from osbundle.tarstream.sourcefile import StrPath, read_whole

MAX_TEMPLATE_BYTES = 16 * 1024 * 1024
# A rendered file may be as large as a template may be: values up to a settings file's 16 MiB
# fit in a small template, and no legitimate unattend file or script comes near either.
MAX_RENDERED_BYTES = MAX_TEMPLATE_BYTES
# Sixteen rendered files at their limit: far above any real profile, and what a build may hold.
MAX_RENDERED_TOTAL = 256 * 1024 * 1024
XML_FORMATS: frozenset[str] = frozenset({"windows-unattend", "autoyast"})
_AMPLIFIED_HINT = "use large values in fewer places, or set `render: false`"


class TemplateError(RenderError):
    """A file to render that cannot be: too large, or not UTF-8 text; `hint` says what to do."""

    def __init__(self, shown: str, message: str, hint: str) -> None:
        self.message = message
        super().__init__(shown, 0, 0, message, hint)


@dataclass
class RenderBudget:
    """What the rendered files of one build (or one `validate` of a profile) may still add up
    to; each file is also capped on its own at MAX_RENDERED_BYTES."""

    left: int = field(default_factory=lambda: MAX_RENDERED_TOTAL)  # read late: tests lower it

    def output(self, file: str, text: str) -> Output:
        """An empty rendered file of `text` within both caps."""
        if self.left >= MAX_RENDERED_BYTES:
            reason = f"rendered, the file would be larger than {_mib(MAX_RENDERED_BYTES)}"
            return Output(file, text, MAX_RENDERED_BYTES, reason, _AMPLIFIED_HINT)
        reason = (
            f"rendered, the profile's files would add up to more than {_mib(MAX_RENDERED_TOTAL)}"
        )
        return Output(file, text, self.left, reason, _AMPLIFIED_HINT)


def _mib(size: int) -> str:
    mib = 1024 * 1024
    return f"{size // mib} MiB" if size % mib == 0 else f"{size} bytes"


def read_template(source: StrPath, origin: SourceId, shown: str) -> str:
    """The text of a file to render, read as collected (sourcefile.py); TemplateError when it is
    larger than MAX_TEMPLATE_BYTES or not UTF-8."""
    if origin.size > MAX_TEMPLATE_BYTES:
        raise TemplateError(shown, "files to render are at most 16 MiB", "set `render: false`")
    raw = read_whole(source, origin)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TemplateError(
            shown,
            f"not UTF-8 text at byte {e.start} ({e.reason})",
            "save it as UTF-8, or set `render: false` to ship it unchanged",
        ) from e


def render_text(
    text: str,
    values: Mapping[str, Scalar],
    fmt: RenderFormat,
    file: str,
    budget: RenderBudget | None = None,
) -> str:
    """`text` with every macro replaced by its value, escaped for `fmt`.

    Raises RenderError (`file:line:col: macro `name`: reason`) for an unknown macro, a value the
    format cannot hold, a rendered XML/YAML file that does not parse, or an output that would
    outgrow `budget` (by default, a file's own MAX_RENDERED_BYTES), which it then spends.
    """
    spend = budget if budget is not None else RenderBudget()
    out = spend.output(file, text)
    if fmt in XML_FORMATS:
        _refuse_declarations(text, file)
        cdata = [(m.start(), m.end()) for m in _CDATA_RE.finditer(text)]
        _substitute(out, values, lambda v, at: _xml_value(v, _inside(cdata, at)))
        rendered = out.joined()
        _check_xml(rendered, file)
    elif fmt == "autoinstall":
        from osbundle.macros.yaml import check_yaml, render_yaml  # 6 ms: only autoinstall needs it

        render_yaml(out, lambda name, at: lookup(values, name, at, text, file))
        rendered = out.joined()
        check_yaml(rendered, file)
    elif fmt in ("kickstart", "esxi-ks"):
        _substitute(out, values, lambda v, _: _ks_value(v))
        rendered = out.joined()
        _check_ks_lines(text, rendered, file)
    else:
        _substitute(out, values, lambda v, _: _script_value(v))
        rendered = out.joined()
    spend.left -= out.size
    return rendered


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
    hint = suggestion(name, values)
    raise render_error(file, text, offset, name, "unknown macro" + (f" ({hint})" if hint else ""))


def _substitute(
    out: Output, values: Mapping[str, Scalar], escape: Callable[[Scalar, int], str]
) -> None:
    text, file = out.text, out.file
    pos = 0
    for m in MACRO_RE.finditer(text):
        value = lookup(values, m.group(1), m.start(), text, file)
        try:
            rendered = escape(value, m.start())
        except Refused as e:
            raise render_error(file, text, m.start(), m.group(1), e.reason) from e
        out.add(text[pos : m.start()], pos)
        out.add(rendered, m.start(), m.group(1))
        pos = m.end()
    out.add(text[pos:], pos)


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
        raise RenderError(file, line, col + 1, f"rendered XML does not parse: {reason}") from e


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
