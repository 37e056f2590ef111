"""The two trailers read piece by piece: metadata.json in its canonical form, SHA256SUMS by line.

A metadata.json of 1,000,000 members is some 290 MB, and `json.loads` of it costs 3 to 13 times
that. The builder writes it canonical (`model.canonical_json`: sorted keys, no whitespace, one
newline), so its "members" array can be split into items without parsing the whole: each item
is decoded on its own and must re-encode to exactly the bytes it came from, which checks the
canonical form piece by piece. Anything else (whitespace, unsorted or repeated keys, escapes
the canonical form does not use, a lone surrogate, NaN, a piece over MAX_PIECE) raises
`NotStreamable`, and the caller reads the document whole, as before, for its exact problems.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from osbundle.model import compact_json

MAX_PIECE = 16 * 1024 * 1024  # one item or fixed field; an inventory item is some 300 bytes
MEMBERS = "members"
BEGIN: Any = object()  # yielded as (MEMBERS, BEGIN) where the "members" array opens
_SUMS_LINE = re.compile(r"(\\?)([0-9a-f]{64}) [ *](.+)")


class NotStreamable(Exception):
    """The trailer is not in the exact form the streaming reader takes."""


def _no_constant(name: str) -> Any:
    raise NotStreamable(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)


class _Text:
    """UTF-8 text decoded from chunks, consumed from the front."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self.buf = ""
        self.pos = 0
        self.eof = False

    def more(self) -> None:
        if self.eof:
            raise NotStreamable("truncated")
        if self.pos > CHUNK_KEEP:
            self.buf, self.pos = self.buf[self.pos :], 0
        try:
            chunk = next(self._chunks, None)
            self.buf += self._decoder.decode(chunk or b"", final=chunk is None)
        except UnicodeDecodeError as exc:
            raise NotStreamable("not UTF-8") from exc
        self.eof = chunk is None
        if len(self.buf) - self.pos > MAX_PIECE + CHUNK_KEEP:
            raise NotStreamable("a piece over MAX_PIECE")

    def expect(self, char: str) -> None:
        while self.pos >= len(self.buf):
            self.more()
        if self.buf[self.pos] != char:
            raise NotStreamable(f"expected {char!r}")
        self.pos += 1

    def peek(self) -> str:
        while self.pos >= len(self.buf):
            self.more()
        return self.buf[self.pos]

    def value(self) -> Any:
        """The next JSON value, which must be written exactly as `compact_json` writes it."""
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError:
                self.more()
                continue
            except RecursionError as exc:
                raise NotStreamable("nested too deeply") from exc
            if _number(value) and not self.eof and self.buf[end : end + 1] not in _AFTER_NUMBER:
                self.more()  # the number may go on in the next chunk ("1" of "1.5")
                continue
            if compact_json(value) != self.buf[self.pos : end]:
                raise NotStreamable("not canonical")
            self.pos = end
            return value

    def at_end(self) -> bool:
        while self.pos >= len(self.buf) and not self.eof:
            self.more()
        return self.pos >= len(self.buf)


CHUNK_KEEP = 1 << 20  # consumed text kept before the buffer is cut down
_AFTER_NUMBER = frozenset(",]}")  # what follows a number in canonical JSON (never the end)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def canonical_fields(chunks: Iterable[bytes]) -> Iterator[tuple[str, Any]]:
    """metadata.json as (key, value) for each top-level field in document order, except that
    "members" comes as one (MEMBERS, item) per inventory item. Raises NotStreamable (possibly
    after yielding) unless the whole document is exactly `canonical_json` of what it holds."""
    text = _Text(chunks)
    text.expect("{")
    previous: str | None = None
    while True:
        if previous is not None:
            if text.peek() == "}":
                break
            text.expect(",")
        key = text.value()
        if not isinstance(key, str) or (previous is not None and key <= previous):
            raise NotStreamable("keys not sorted")
        previous = key
        text.expect(":")
        if key == MEMBERS:
            yield MEMBERS, BEGIN
            yield from ((MEMBERS, item) for item in _items(text))
        else:
            yield key, text.value()
    text.expect("}")
    text.expect("\n")
    if not text.at_end():
        raise NotStreamable("text after the document")


def _items(text: _Text) -> Iterator[Any]:
    text.expect("[")
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        yield text.value()
        if text.peek() == "]":
            text.pos += 1
            return
        text.expect(",")


def sums_lines(chunks: Iterable[bytes]) -> Iterator[tuple[str, str]]:
    """SHA256SUMS as (path, digest) pairs, line by line (lines end at "\\n" only, as
    `check.parse_sums` reads them). Raises NotStreamable at a malformed line, at text that is
    not UTF-8 or that does not end with a newline."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    rest = ""
    for chunk in _with_end(chunks):
        try:
            rest += decoder.decode(chunk or b"", final=chunk is None)
        except UnicodeDecodeError as exc:
            raise NotStreamable("not UTF-8") from exc
        lines = rest.split("\n")
        rest = lines.pop()
        if len(rest) > MAX_PIECE:
            raise NotStreamable("a line over MAX_PIECE")
        for line in lines:
            match = _SUMS_LINE.fullmatch(line)
            if match is None:
                raise NotStreamable("a malformed line")
            escaped, digest, path = match.groups()
            if escaped:
                path = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), path)
            yield path, digest
    if rest:
        raise NotStreamable("no newline at the end")


def _with_end(chunks: Iterable[bytes]) -> Iterator[bytes | None]:
    yield from chunks
    yield None
