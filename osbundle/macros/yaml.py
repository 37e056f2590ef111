"""Macros in YAML (Ubuntu autoinstall): what each occurrence sits in decides how it is written.

A light line scanner (quotes, flow collections, block scalars and comments carry across lines)
puts every macro in one of these places:

- the whole plain scalar (`locale: #ns.locale#`, `- #ns.pkg#`, `[#a.b#, ...]`, a key): strings
  become a double-quoted YAML scalar, booleans `true`/`false`, numbers YAML numbers, so the
  loaded value equals the macro's value and keeps its type;
- inside a double-quoted scalar: YAML escapes (`\\"`, `\\\\`, `\\n`, `\\xXX`, ...);
- inside a single-quoted scalar: `'` doubled; line breaks and non-printable characters refused;
- part of a plain scalar (`- echo #ns.x#`): verbatim, refusing anything that would end or
  re-read the scalar: line breaks, tabs, non-printables, `: `, ` #`, leading/trailing spaces,
  a leading `#`, a trailing `:`, `,[]{}?` in flow context and, at the start of the scalar, a
  YAML indicator character;
- a block scalar line (`|`, `>`) or a comment: verbatim, refusing line breaks and non-printables
  (and, at the start of a block line, leading whitespace, which would change its indentation).

Whatever the scanner concludes, the rendered file must still parse as YAML (`check_yaml`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from osbundle.macros.grammar import (
    LINE_BREAKS,
    MACRO_RE,
    Output,
    Refused,
    RenderError,
    Scalar,
    lone_surrogate,
    render_error,
    value_text,
)

# What PyYAML's reader refuses anywhere in a stream, plus the BOM, allowed only at its start.
_NON_PRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_DQ_ESCAPE = re.compile('["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]')
_DQ_NAMED = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_BLOCK_HEADER = re.compile(r"[|>][0-9+-]*[ \t]*(?:#.*)?")
_PROPERTY = re.compile(r"[&!*][^\s,\[\]{}]*")
_BLOCK_STOP = re.compile(r"[:#]")
_FLOW_STOP = re.compile(r"[:#,\[\]{}]")
_DQ_BODY = re.compile(r'(?:[^"\\]|\\.)*')
_SQ_BODY = re.compile(r"(?:[^']|'')*")
# libyaml when PyYAML was built with it: the check then costs a fraction of the pure-Python one.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: str  # plain | double | single | block | comment
    flow: bool = False
    joined: bool = False  # a continuation line of a multi-line plain scalar


@dataclass
class _State:
    block: int | None = None  # inside a block scalar whose parent node has this indentation
    quote: str | None = None  # inside a quoted scalar that continues on the next line
    flow: int = 0  # depth of open flow collections
    plain: int | None = None  # a plain value (of a node at this indentation) may continue


def render_yaml(out: Output, lookup: Callable[[str, int], Scalar]) -> None:
    """`out.text` with every macro replaced, into `out`; `lookup(name, offset)` gives (or
    refuses) the value."""
    text, file = out.text, out.file
    state = _State()
    offset = 0
    for index, line in enumerate(text.split("\n")):
        if index:
            out.add("\n", offset - 1)
        body = line.removesuffix("\r")
        spans = _classify(body, state)
        pos = 0
        for m in MACRO_RE.finditer(body):
            value = lookup(m.group(1), offset + m.start())
            try:
                rendered = _write(value, m, body, spans)
            except Refused as e:
                raise render_error(file, text, offset + m.start(), m.group(1), e.reason) from e
            out.add(line[pos : m.start()], offset + pos)
            out.add(rendered, offset + m.start(), m.group(1))
            pos = m.end()
        out.add(line[pos:], offset + pos)
        offset += len(line) + 1


def check_yaml(out: str, file: str) -> None:
    """Raise RenderError unless `out` is well-formed YAML (composed only: aliases stay shared)."""
    try:
        for _ in yaml.compose_all(out, Loader=_LOADER):
            pass
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = e.problem or e.context or "invalid YAML"
        raise RenderError(file, line, col, f"rendered YAML does not parse: {problem}") from e
    except (yaml.YAMLError, RecursionError) as e:
        raise RenderError(file, 0, 0, f"rendered YAML does not parse: {e}") from e


def _classify(line: str, st: _State) -> list[_Span]:
    """The spans of `line` macros may sit in; updates `st` for the next line."""
    n = len(line)
    indent = n - len(line.lstrip(" "))
    if _in_block(line, indent, st):
        return [_Span(0, n, "block")]
    joined = _joined_plain(line, indent, st)
    if joined:
        return joined
    spans: list[_Span] = []
    i = _quoted(line, 0, st, spans) if st.quote else 0
    if i == 0 and re.match(r"(?:---|\.\.\.)(?:[ \t]|$)", line):
        i = 3
    parent = node = indent
    while i < n:
        c = line[i]
        if c in " \t":
            i += 1
        elif c == "#" and not MACRO_RE.match(line, i):
            spans.append(_Span(i, n, "comment"))
            break
        elif c in "\"'":
            node, st.quote = i, c
            i = _quoted(line, i + 1, st, spans)
        elif c in "[{" or (c in "]}," and st.flow):
            st.flow = st.flow + 1 if c in "[{" else max(0, st.flow - (c != ","))
            i += 1
        elif c in "-?:" and (
            i + 1 == n or line[i + 1] in " \t" or (st.flow and line[i + 1] in ",[]{}")
        ):
            parent = i if c == "-" else node
            i += 1
        elif c in "|>" and not st.flow and _BLOCK_HEADER.fullmatch(line, i):
            st.block = parent
            break
        elif c in "&!*":
            i = _PROPERTY.match(line, i).end()  # type: ignore[union-attr]
        else:
            node, (end, i) = i, _plain_end(line, i, st.flow > 0)
            spans.append(_Span(node, end, "plain", st.flow > 0))
            st.plain = parent if i == n and not st.flow else None
    return spans


def _in_block(line: str, indent: int, st: _State) -> bool:
    """Whether `line` is content of the block scalar open before it (else that block ends)."""
    if st.block is not None and (not line.strip() or indent > st.block):
        return True
    st.block = None
    return False


def _joined_plain(line: str, indent: int, st: _State) -> list[_Span]:
    """The span of `line` if it continues a multi-line plain scalar, else []."""
    parent, st.plain = st.plain, None
    if parent is None or st.quote or not line.strip() or indent <= parent:
        return []
    if line.startswith("#", indent) and not MACRO_RE.match(line, indent):
        return []
    end, stop = _plain_end(line, indent, False)
    st.plain = parent if stop == len(line) else None
    return [_Span(indent, end, "plain", joined=True)]


def _quoted(line: str, i: int, st: _State, spans: list[_Span]) -> int:
    """Scan a quoted scalar's body from `i`; returns where scanning goes on."""
    body = _DQ_BODY if st.quote == '"' else _SQ_BODY
    end = body.match(line, i).end()  # type: ignore[union-attr]
    spans.append(_Span(i, end, "double" if st.quote == '"' else "single"))
    if end < len(line) and line[end] == st.quote:
        st.quote = None
        return end + 1
    return len(line)


def _plain_end(line: str, i: int, flow: bool) -> tuple[int, int]:
    """(end of the plain scalar at `i` without trailing blanks, index of what ended it)."""
    stop = _FLOW_STOP if flow else _BLOCK_STOP
    n = len(line)
    j = i
    while (found := stop.search(line, j)) is not None:
        k = found.start()
        macro = MACRO_RE.match(line, k)
        if macro:
            j = macro.end()
        elif line[k] == "#":
            if k > i and line[k - 1] in " \t":
                break
            j = k + 1
        elif line[k] == ":" and not _ends_key(line, k, flow):
            j = k + 1
        else:
            break
    else:
        k = n
    return i + len(line[i:k].rstrip(" \t")), k


def _ends_key(line: str, k: int, flow: bool) -> bool:
    """Whether the indicator (`:`, `-`, `?`) at `k` stands alone rather than in a plain scalar."""
    after = line[k + 1 : k + 2]
    return after in ("", " ", "\t") or (flow and after in ",[]{}")


def _write(value: Scalar, m: re.Match[str], line: str, spans: list[_Span]) -> str:
    span = next((s for s in spans if s.start <= m.start() < s.end), None)
    if span is None:
        raise Refused("macro is not inside a YAML scalar or comment (an anchor, tag or alias?)")
    if span.kind == "plain" and not span.joined and (m.start(), m.end()) == (span.start, span.end):
        return _whole(value)
    text = value_text(value)
    first = not line[: m.start()].strip()  # nothing but indentation before the macro
    last = not line[m.end() :].strip()
    if span.kind == "double":
        if first and last and not text:
            raise Refused("an empty value would leave a blank line, which YAML reads as a break")
        return _escape_double(text, edges=True)
    _refuse_unprintable(text)
    if span.kind == "single":
        if (first and text[:1] in ("", " ", "\t")) or (last and text[-1:] in ("", " ", "\t")):
            raise Refused("a value at a line's edge inside quotes must not start or end blank")
        return text.replace("'", "''")
    if span.kind == "block":
        if first and text[:1] in ("", " ", "\t"):
            raise Refused("value is empty or starts with whitespace: it would change the block")
        return text
    if span.kind == "comment":
        return text
    return _plain_part(text, m, line, span)


def _whole(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _yaml_float(value)
    return '"' + _escape_double(value, edges=False) + '"'


def _yaml_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


def _escape_double(text: str, edges: bool) -> str:
    """`text` escaped for a double-quoted scalar; `edges`: also its leading/trailing blanks,
    which line folding would drop when the value starts or ends a line."""
    if lone_surrogate(text):
        raise Refused("value holds a lone surrogate")
    escaped = _DQ_ESCAPE.sub(lambda c: _dq_escape(c.group()), text)
    if not edges:
        return escaped
    # Tabs are escaped already; only spaces can sit at the edges now.
    lead = len(escaped) - len(escaped.lstrip(" "))
    trail = len(escaped.rstrip(" ")) if lead < len(escaped) else len(escaped)
    return "\\x20" * lead + escaped[lead:trail] + "\\x20" * (len(escaped) - trail)


def _dq_escape(char: str) -> str:
    named = _DQ_NAMED.get(char)
    if named:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _refuse_unprintable(text: str) -> None:
    if any(c in LINE_BREAKS for c in text):
        raise Refused("value holds a line break, which this place in the YAML cannot carry")
    bad = _NON_PRINTABLE.search(text)
    if bad:
        raise Refused(f"value holds U+{ord(bad.group()):04X}, which YAML cannot carry here")


def _plain_part(text: str, m: re.Match[str], line: str, span: _Span) -> str:
    """A value inside a longer plain scalar: refuse whatever would end or re-read it."""
    bad = [repr(s) for s in (": ", " #", "\t") if s in text]
    if span.flow:
        # `?` too: PyYAML's pure-Python parser (unlike libyaml) rejects `[x-?, 2]`, and the
        # consumer's YAML library is not ours to choose.
        bad += [repr(c) for c in ",[]{}?" if c in text]
    if text[:1] in (" ", "#") or text[-1:] in (" ", ":"):
        bad.append("a leading space or `#` or a trailing space or `:`")
    if not text and (m.start() == span.start or m.end() == span.end):
        bad.append("nothing (an empty value at the scalar's edge)")
    if m.start() == span.start:
        first = (text or line[m.end() : m.end() + 1])[:1]
        if first in _INDICATORS:
            bad.append(f"a leading {first!r}")
    if bad:
        reason = f"value inside a plain YAML scalar cannot hold {', '.join(bad)}; quote the scalar"
        raise Refused(reason)
    return text
