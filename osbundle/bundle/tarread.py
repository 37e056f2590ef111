"""A strict, bounded, streaming reader for the bundle's tar.gz encoding (docs/bundle-format.md).

Why not `tarfile.open(mode="r|gz")`: it reads a pax header's whole body into memory whatever
size the header declares, accepts GNU, sparse and global headers we never write, ignores data
after the gzip stream, and reports damage as generic ReadError text. The bundle format is a
small subset of POSIX tar (ustar headers, pax `path`/`size` records, regular files only), so a
reader that accepts exactly that subset is short, keeps memory bounded (one 1 MiB chunk plus a
pax header of at most 64 KiB) and can name what is wrong in one line.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, cast

from isal import isal_zlib

from osbundle import model
from osbundle.errors import BundleError
from osbundle.names import member_name_problem

BLOCK = 512
RECORD = 10240  # tar's record size: the archive is zero-padded to a multiple of it
CHUNK = 1 << 20  # member data is handed out in pieces of at most this size
RAW_CHUNK = 256 * 1024
MAX_PAX_BYTES = 64 * 1024
MAX_MEMBERS = model.MAX_MEMBERS  # the shared limit; a name of this module so tests can lower it

_ZERO_BLOCK = bytes(BLOCK)
_PAX_USED = frozenset({"path", "size"})
# Records some tar writers add that change nothing about how a regular file is read back.
_PAX_IGNORED = frozenset({"mtime", "atime", "ctime", "uid", "gid", "uname", "gname", "comment"})
_TYPE_NAMES = {
    b"1": "a hard link",
    b"2": "a symbolic link",
    b"3": "a character device",
    b"4": "a block device",
    b"5": "a directory",
    b"6": "a FIFO",
    b"7": "a contiguous file",
    b"g": "a global pax header",
    b"L": "a GNU long-name header",
    b"K": "a GNU long-link header",
    b"S": "a GNU sparse file",
}
# isal's stub declares IsalError as an instance; at run time it is the exception class.
_ZLIB_ERRORS = (zlib.error, cast(type[Exception], isal_zlib.IsalError))


def show(name: str) -> str:
    """A member name quoted for a one-line message: control characters escaped, length capped."""
    text = repr(name)
    return text if len(text) <= 200 else text[:197] + "...'"


class GzipSource:
    """The decompressed bytes of a file that must hold exactly one gzip member.

    `on_raw` sees every compressed byte read (to hash the archive in the same pass).
    """

    def __init__(self, raw: BinaryIO, on_raw: Callable[[bytes], None] | None = None) -> None:
        self._raw = raw
        self._on_raw = on_raw
        self._inflater = isal_zlib.decompressobj(wbits=31)
        self._buf = bytearray()
        self._pos = 0  # bytes of _buf already handed out
        self._done = False
        self.header = b""
        self.compressed_size = 0
        self.produced = 0  # decompressed bytes handed out by read()

    def read(self, n: int) -> bytes:
        """Up to `n` bytes; fewer only at the end of the stream."""
        while len(self._buf) - self._pos < n and not self._done:
            self._pump()
        with memoryview(self._buf) as view:
            out = bytes(view[self._pos : self._pos + n])
        self._pos += len(out)
        self.produced += len(out)
        return out

    def _read_raw(self) -> bytes:
        data = self._raw.read(RAW_CHUNK)
        if data:
            if not self.compressed_size:
                self._check_magic(data)
            self.compressed_size += len(data)
            if self._on_raw is not None:
                self._on_raw(data)
        return data

    def _check_magic(self, data: bytes) -> None:
        if len(data) < 10 or data[:3] != b"\x1f\x8b\x08":
            raise BundleError("not a gzip file (bad magic bytes)")
        self.header = data[:10]

    def _pump(self) -> None:
        del self._buf[: self._pos]  # compact once per pump, not once per read
        self._pos = 0
        data = self._inflater.unconsumed_tail or self._read_raw()
        try:
            if not data:
                if not self.compressed_size:
                    raise BundleError("not a gzip file (it is empty)")
                self._buf += self._inflater.flush()
                if not self._inflater.eof:
                    raise BundleError("truncated gzip stream (the file ends inside the data)")
            else:
                self._buf += self._inflater.decompress(data, CHUNK)
        except _ZLIB_ERRORS as exc:
            raise BundleError(f"corrupt gzip data ({inflate_problem(exc)})") from exc
        if self._inflater.eof:
            self._done = True
            if self._inflater.unused_data or self._read_raw():
                raise BundleError("trailing data after the gzip stream")


# What zlib's and isa-l's messages ("Error -6 Incorrect checksum found") mean, in words.
_INFLATE_PROBLEMS = (
    (("checksum", "data check", "length check"), "bad checksum"),
    (("lookback", "distance"), "a back-reference before the start of the data"),
    (("wrapper", "header"), "bad gzip header"),
    (("method",), "unsupported compression method"),
    (("symbol", "code"), "invalid compressed symbol"),
    (("block", "stored"), "invalid deflate block"),
)


def inflate_problem(exc: Exception) -> str:
    """A decompressor's error as a few words, never the library's own text."""
    text = str(exc).lower()
    return next(
        (words for keys, words in _INFLATE_PROBLEMS if any(k in text for k in keys)),
        "undecodable compressed data",
    )


@dataclass(frozen=True, slots=True)  # one per member, up to MAX_MEMBERS: slots halve its size
class TarEntry:
    """One regular-file member as its header (plus any pax header) describes it."""

    name: str
    size: int
    mode: int  # permission bits only
    mtime: int
    index: int  # 0-based position among the members
    offset: int  # offset of its first header in the tar stream


class TarStream:
    """Iterate over the members of a tar stream; read each member's data while it is current."""

    def __init__(self, source: GzipSource) -> None:
        self._src = source
        self._left = 0  # unread data bytes of the current member
        self._pad = 0  # padding after the current member's data
        self._current: TarEntry | None = None
        self._max_members = MAX_MEMBERS  # read at run time so tests can lower it

    def entries(self) -> Iterator[TarEntry]:
        index = 0
        while True:
            self._skip_rest()
            entry = self._next_header(index)
            if entry is None:
                return
            if index >= self._max_members:
                raise BundleError(f"more than {self._max_members:,} members")
            self._current = entry
            self._left, self._pad = entry.size, -entry.size % BLOCK
            yield entry
            index += 1

    def chunks(self) -> Iterator[bytes]:
        """The current member's remaining data, in pieces of at most CHUNK bytes."""
        while self._left:
            data = self._src.read(min(self._left, CHUNK))
            if not data:
                self._truncated()
            self._left -= len(data)
            yield data

    def _truncated(self) -> None:
        entry = self._current
        assert entry is not None
        have = entry.size - self._left
        raise BundleError(
            f"member {show(entry.name)} is truncated: it declares {entry.size} bytes and the "
            f"archive ends after {have}"
        )

    def _skip_rest(self) -> None:
        for _ in self.chunks():
            pass
        if self._pad:
            padding = self._src.read(self._pad)
            if len(padding) != self._pad:
                raise BundleError("truncated tar stream (the archive ends inside member padding)")
            if padding.count(0) != self._pad:
                assert self._current is not None
                raise BundleError(f"non-zero padding after member {show(self._current.name)}")
        self._pad = 0

    def _block(self, what: str) -> bytes:
        block = self._src.read(BLOCK)
        if len(block) != BLOCK:
            raise BundleError(f"truncated tar stream (the archive ends before {what})")
        return block

    def _next_header(self, index: int) -> TarEntry | None:
        offset = self._src.produced
        block = self._block("its end-of-archive marker")
        if block == _ZERO_BLOCK:
            self._finish(offset)
            return None
        fields = parse_header(block, offset)
        pax: dict[str, str] = {}
        if fields.typeflag == b"x":
            pax = self._read_pax(fields.size, offset)
            block = self._block("the header that follows a pax header")
            fields = parse_header(block, self._src.produced - BLOCK)
            if fields.typeflag == b"x":
                raise BundleError(f"two pax headers in a row at offset {offset}")
        name = pax.get("path", fields.name)
        check_type(fields.typeflag, name)
        size = parse_pax_size(pax["size"], name) if "size" in pax else fields.size
        problem = name_problem(name)
        if problem is not None:
            raise BundleError(problem)
        return TarEntry(name, size, fields.mode, fields.mtime, index, offset)

    def _read_pax(self, size: int, offset: int) -> dict[str, str]:
        if size > MAX_PAX_BYTES:
            raise BundleError(
                f"pax header at offset {offset} declares {size} bytes (limit {MAX_PAX_BYTES})"
            )
        body = self._src.read(size + (-size % BLOCK))
        if len(body) < size + (-size % BLOCK):
            raise BundleError(
                f"truncated tar stream (the archive ends inside the pax header at offset {offset})"
            )
        return parse_pax(body[:size], offset)

    def _finish(self, offset: int) -> None:
        if self._src.read(BLOCK) != _ZERO_BLOCK:
            raise BundleError(f"lone zero block at offset {offset} (expected two, or a header)")
        padding = self._src.read(RECORD)
        if padding.strip(b"\x00") or self._src.read(1):
            raise BundleError("data after the tar end-of-archive marker")


@dataclass(frozen=True)
class HeaderFields:
    name: str
    size: int
    mode: int
    mtime: int
    typeflag: bytes


def parse_header(block: bytes, offset: int) -> HeaderFields:
    """The fields of one 512-byte ustar header; raises BundleError for anything but POSIX ustar."""
    stored = _octal(block[148:156], "checksum", offset)
    unsigned = sum(block) - sum(block[148:156]) + 256
    if stored != unsigned and stored != _signed_sum(block):
        raise BundleError(f"bad tar header checksum at offset {offset}")
    if block[257:265] != b"ustar\x0000":
        kind = "a GNU tar" if block[257:265] == b"ustar  \x00" else "not a POSIX ustar"
        raise BundleError(f"tar header at offset {offset} is {kind} header")
    name_field = block[:100].split(b"\x00", 1)[0]
    prefix = block[345:500].split(b"\x00", 1)[0]
    try:
        name = (prefix + b"/" + name_field if prefix else name_field).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"member name at offset {offset} is not UTF-8") from exc
    return HeaderFields(
        name=name,
        size=_octal(block[124:136], "size", offset),
        mode=_octal(block[100:108], "mode", offset) & 0o7777,
        mtime=_octal(block[136:148], "mtime", offset),
        typeflag=block[156:157],
    )


def _signed_sum(block: bytes) -> int:
    """The checksum as some old tars computed it, with bytes read as signed chars."""
    return sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 256


def _octal(field: bytes, what: str, offset: int) -> int:
    if field[:1] and field[0] & 0x80:
        raise BundleError(f"tar header at offset {offset} has a base-256 {what} field")
    digits = field.strip(b" \x00")
    if digits and not (digits.isdigit() and b"8" not in digits and b"9" not in digits):
        raise BundleError(f"tar header at offset {offset} has a malformed {what} field")
    return int(digits or b"0", 8)


def check_type(typeflag: bytes, name: str) -> None:
    if typeflag in (b"0", b"\x00"):
        return
    what = _TYPE_NAMES.get(typeflag)
    if what is None:
        raise BundleError(f"member {show(name)} has unknown tar type {typeflag!r}")
    raise BundleError(f"member {show(name)} is {what}: only regular files are allowed")


def parse_pax(body: bytes, offset: int) -> dict[str, str]:
    """`<length> <key>=<value>\\n` records, each length counting the whole record."""
    records: dict[str, str] = {}
    pos = 0
    where = f"pax header at offset {offset}"
    while pos < len(body):
        space = body.find(b" ", pos, pos + 8)
        digits = body[pos:space] if space > pos else b""
        if not digits.isdigit():
            raise BundleError(f"{where} has a malformed record length")
        end = pos + int(digits)
        record = body[space + 1 : end]
        if end > len(body) or end <= space + 1 or not record.endswith(b"\n"):
            raise BundleError(f"{where} has a record length that does not match its record")
        key, eq, value = record[:-1].partition(b"=")
        text_key = key.decode("ascii", "replace")
        if not eq or not key:
            raise BundleError(f"{where} has a record without a keyword")
        if text_key in records:
            raise BundleError(f"{where} repeats the record {text_key!r}")
        if text_key not in _PAX_USED | _PAX_IGNORED:
            raise BundleError(f"{where} has an unsupported record {text_key!r}")
        try:
            records[text_key] = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BundleError(f"{where}: record {text_key!r} is not UTF-8") from exc
        pos = end
    return records


def parse_pax_size(value: str, name: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 20:
        raise BundleError(f"member {show(name)} has a malformed pax size {value[:40]!r}")
    return int(value)


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a member name (absolute, `.`/`..`, empty parts, control characters,
    over the limits): `names.member_name_problem`, which the build checks profiles with too."""
    reason = member_name_problem(name)
    return None if reason is None else f"member {show(name)} {reason}"
