"""Hardened YAML loading: JSON-compatible data plus the position of every node.

Bytes are checked (size, UTF-8, characters YAML forbids) before libyaml sees them; libyaml's event
parser (or PyYAML's pure-Python one) feeds `compose`, which builds the data iteratively with
limits on depth and node count. Every failure is a `YamlError` naming file, line and column.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Final

import yaml

from osbundle.diagnostics import DocPath
from osbundle.yaml.compose import ParserFailure, compose
from osbundle.yaml.document import MAX_BYTES, MAX_DEPTH, Mark, YamlDocument, YamlError, yaml_error

# libyaml's event parser when the C extension is there; PyYAML's own parser otherwise.
_C_LOADER: type[yaml.CSafeLoader] | None = getattr(yaml, "CSafeLoader", None)

_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# What YAML allows in a stream (its `c-printable`); libyaml refuses the rest, less clearly.
_FORBIDDEN = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SYNTAX_HINTS: Final = (
    (
        "mapping values are not allowed",
        "a `: ` inside an unquoted value starts a mapping; quote the value or fix the indentation",
    ),
    ("expected <block end>", "check the indentation of this line against the lines above it"),
    ("expected key", "check the indentation of this line against the lines above it"),
    ("could not find expected ':'", "a key needs `: ` (colon and space) after it"),
    ("end of stream", "a quote or bracket opened earlier is not closed"),
    ("expected ',' or", "a `[` or `{` opened earlier is not closed, or a comma is missing"),
    ("tag", "only the standard !! tags (e.g. !!str) are supported"),
)
_O_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block the open
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def load_yaml(path: Path, display: str | None = None) -> YamlDocument:
    """Read and parse a YAML file; the size is checked before a byte of it is read."""
    name = str(path) if display is None else display
    try:
        fd = os.open(path, _O_FLAGS)
    except OSError as exc:
        raise _os_error(name, exc) from None
    try:
        data = _read_regular(fd, name)
    except OSError as exc:
        raise _os_error(name, exc) from None
    finally:
        os.close(fd)
    return parse_yaml(data, name)


def parse_yaml(text: bytes, file: str) -> YamlDocument:
    """Parse YAML bytes (UTF-8, optionally with a BOM) into a `YamlDocument`."""
    if len(text) > MAX_BYTES:
        raise _too_large(file, len(text))
    source = _decode(text, file)
    loader: yaml.CSafeLoader | yaml.SafeLoader
    try:
        loader = _C_LOADER(text) if _C_LOADER is not None else yaml.SafeLoader(source)
    except yaml.YAMLError as exc:  # PyYAML's reader checks characters up front
        raise _parser_error(exc, (), text, source, file) from None
    try:
        return compose(loader, file)
    except ParserFailure as failure:
        raise _parser_error(failure.error, failure.path, text, source, file) from None
    finally:
        loader.dispose()


def _read_regular(fd: int, name: str) -> bytes:
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR))
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
        raise yaml_error(name, Mark(1, 1), f"cannot read the file: not a regular file ({kind})")
    if info.st_size > MAX_BYTES:
        raise _too_large(name, info.st_size)
    chunks: list[bytes] = []
    total = 0
    while total <= MAX_BYTES:  # bounded: a file that grew since fstat is still cut off
        chunk = os.read(fd, MAX_BYTES + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > MAX_BYTES:
        raise _too_large(name, total)
    return b"".join(chunks)


def _os_error(name: str, exc: OSError) -> YamlError:
    reason = exc.strerror or str(exc)
    return yaml_error(name, Mark(1, 1), f"cannot read the file: {reason}")


def _too_large(name: str, size: int) -> YamlError:
    return yaml_error(
        name,
        Mark(1, 1),
        f"file is too large: {size} bytes or more (the limit is {MAX_BYTES} bytes)",
        hint="keep profile files under 1 MiB; put large content into separate files",
    )


def _decode(text: bytes, file: str) -> str:
    try:
        source = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = text[: exc.start].decode("utf-8").removeprefix("\ufeff")
        raise yaml_error(
            file,
            _mark_at(prefix, len(prefix)),
            f"not valid UTF-8: byte 0x{text[exc.start]:02x} ({exc.reason})",
            hint="save the file as UTF-8",
        ) from None
    source = source.removeprefix("\ufeff")
    bad = _FORBIDDEN.search(source)
    if bad is not None:
        raise _forbidden_char(file, source, bad.start())
    return source


def _forbidden_char(file: str, source: str, index: int) -> YamlError:
    code = ord(source[index])
    if code == 0:
        what, hint = "NUL character (U+0000)", "the file looks binary or UTF-16; save it as UTF-8"
    else:
        kind = "control character" if code < 0xA0 else "character"
        what = f"{kind} U+{code:04X}"
        hint = "remove it, or write it as an escape inside a double-quoted string"
    return yaml_error(file, _mark_at(source, index), f"{what} is not allowed in YAML", hint=hint)


def _mark_at(source: str, index: int) -> Mark:
    """The 1-based line and column of character `index`, counting line breaks as YAML does."""
    line, start = 1, 0
    for brk in _BREAKS.finditer(source, 0, index):
        line += 1
        start = brk.end()
    return Mark(line, index - start + 1)


def _parser_error(
    error: yaml.YAMLError, path: DocPath, raw: bytes, source: str, file: str
) -> YamlError:
    if isinstance(error, yaml.MarkedYAMLError):
        where = error.problem_mark or error.context_mark
        mark = Mark(where.line + 1, where.column + 1) if where else Mark(1, 1)
        problem = error.problem or "invalid YAML"
        if "maximum nesting depth" in problem:  # libyaml's own limit, hit while looking ahead
            message = f"nesting too deep: more than {MAX_DEPTH} levels of mappings and sequences"
            return yaml_error(file, mark, message, path)
        context = error.context
        message = f"invalid YAML: {problem}"
        if context:
            started = error.context_mark
            at = f" at line {started.line + 1}" if started is not None else ""
            message += f" ({context}{at})"
        return yaml_error(file, mark, message, path, _syntax_hint(problem, source, mark))
    if isinstance(error, yaml.reader.ReaderError):
        text = source[: error.position]
        if _C_LOADER is not None:  # libyaml counts bytes of its (raw) input
            text = raw[: error.position].decode("utf-8", "ignore").removeprefix("\ufeff")
        mark = _mark_at(text, len(text))
        return yaml_error(file, mark, f"invalid YAML: {error.reason}", path)
    return yaml_error(file, Mark(1, 1), f"invalid YAML: {error}", path)


def _char_at(source: str, mark: Mark) -> str:
    lines = source.splitlines()
    if mark.line > len(lines):
        return ""
    line = lines[mark.line - 1]
    return line[mark.col - 1] if mark.col <= len(line) else ""


def _syntax_hint(problem: str, source: str, mark: Mark) -> str | None:
    char = _char_at(source, mark)
    if char == "\t" or "tab" in problem:
        return "YAML forbids tabs for indentation; use spaces"
    if char in ("@", "`"):
        return "`@` and `` ` `` cannot start a plain value; quote the value"
    return next((hint for needle, hint in _SYNTAX_HINTS if needle in problem), None)
