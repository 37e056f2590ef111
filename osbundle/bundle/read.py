"""Read a bundle once, safely: members, digests and the two trailers; `inspect_bundle` on top.

`scan_bundle` is the one pass that `inspect`, `verify` and `unpack` share. It streams the
archive through `tarread`, enforces the single `<profile-name>/` top directory, hashes every
payload member while it streams (never holding one in memory), hands payload bytes to an
optional `MemberWriter`, and keeps a compact record of every member and the two trailers
(`metadata.json`, `SHA256SUMS`), both in temporary files (`spool`), never in memory.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import xxhash
from jsonschema import Draft202012Validator

from osbundle.bundle.spool import MemberRecord, RecordSpool, SpilledBytes
from osbundle.bundle.tarread import GzipSource, TarEntry, TarStream, show
from osbundle.errors import BundleError, InputError, OsbundleError
from osbundle.model import MAX_METADATA_BYTES, METADATA, TRAILERS, compact_json
from osbundle.resources import load_schema

MAX_TRAILER_BYTES = MAX_METADATA_BYTES  # both trailers: what the builder can write
PROFILE_NAME = re.compile(r"(?!\.\.?$)[A-Za-z0-9._-]{1,100}")


class MemberWriter(Protocol):
    """Receives each payload member's bytes as they stream past (used by unpack)."""

    def begin(self, path: str, entry: TarEntry) -> None: ...

    def write(self, chunk: bytes) -> None: ...

    def end(self) -> None: ...


class Records(Protocol):
    """Every member's record in archive order, iterable more than once (a `RecordSpool`)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[MemberRecord]: ...


@dataclass(frozen=True)
class ScanResult:
    top: str
    records: Records  # every member, archive order
    trailers: Mapping[str, SpilledBytes]  # first occurrence of metadata.json / SHA256SUMS
    gzip_header: bytes
    gzip_size: int
    tar_size: int
    archive_sha256: str | None


def open_bundle(path: Path) -> Any:
    """The bundle file opened for reading; InputError when it is missing or not a file."""
    if not path.is_file():
        what = "no such bundle" if not path.exists() else "not a regular file"
        raise InputError(f"{what}: {path}")
    try:
        return path.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc


def scan_bundle(
    path: Path,
    *,
    sha256: bool,
    xxh3: bool,
    archive_sha256: bool = False,
    writer: MemberWriter | None = None,
) -> ScanResult:
    """One streaming pass over the bundle. Raises BundleError for anything unreadable or unsafe.

    Every error about the archive names it (`<path>: <what is wrong>`); the writer's own errors
    are about where it writes, and pass through unchanged.
    """
    try:
        guarded = None if writer is None else _Guarded(writer)
        return _scan(path, sha256, xxh3, archive_sha256, guarded)
    except _WriterFailed as failed:
        raise failed.error from failed.error.__cause__
    except BundleError as exc:
        raise BundleError(f"{path}: {exc}") from exc


def bundle_error(path: Path, text: str) -> BundleError:
    """An error about the bundle at `path`, named as scan_bundle names its own."""
    return BundleError(f"{path}: {text}")


class _WriterFailed(Exception):
    def __init__(self, error: OsbundleError) -> None:
        super().__init__(str(error))
        self.error = error


class _Guarded:
    """A MemberWriter whose errors scan_bundle can tell from the archive's own."""

    def __init__(self, writer: MemberWriter) -> None:
        self._writer = writer

    def begin(self, path: str, entry: TarEntry) -> None:
        try:
            self._writer.begin(path, entry)
        except OsbundleError as exc:
            raise _WriterFailed(exc) from exc

    def write(self, chunk: bytes) -> None:
        try:
            self._writer.write(chunk)
        except OsbundleError as exc:
            raise _WriterFailed(exc) from exc

    def end(self) -> None:
        try:
            self._writer.end()
        except OsbundleError as exc:
            raise _WriterFailed(exc) from exc


def _scan(
    path: Path, sha256: bool, xxh3: bool, archive_sha256: bool, writer: MemberWriter | None
) -> ScanResult:
    archive_hash = hashlib.sha256() if archive_sha256 else None
    with open_bundle(path) as raw:
        try:
            source = GzipSource(raw, archive_hash.update if archive_hash else None)
            stream = TarStream(source)
            top = ""
            records = RecordSpool()
            trailers: dict[str, SpilledBytes] = {}
            floor = 0  # bytes metadata.json needs at least to list the members so far
            for entry in stream.entries():
                if not top:
                    top = records.top = top_directory(entry.name)
                rel = relative_path(entry.name, top)
                if rel in TRAILERS:
                    read_trailer(stream, entry, rel, trailers, records)
                else:
                    floor += inventory_floor(rel)
                    if floor > MAX_TRAILER_BYTES:
                        raise BundleError(
                            f"more members than a {METADATA} within its limit "
                            f"({MAX_TRAILER_BYTES} bytes) can list"
                        )
                    record = hash_payload(
                        stream, entry, rel, sha256=sha256, xxh3=xxh3, writer=writer
                    )
                    records.append(entry, rel, record.sha256, record.xxh3_128)
        except OSError as exc:
            raise BundleError(f"cannot be read: {exc.strerror or exc}") from exc
    if not records:
        raise BundleError("the archive holds no members")
    return ScanResult(
        top=top,
        records=records,
        trailers=trailers,
        gzip_header=source.header,
        gzip_size=source.compressed_size,
        tar_size=source.produced,
        archive_sha256=archive_hash.hexdigest() if archive_hash else None,
    )


# The shortest inventory item of metadata.json, and its comma: every payload member has one,
# so the members alone can show that metadata.json would be over its limit, before the
# archive's end and without keeping a record of every one of them.
_SHORTEST_ITEM = {
    "kind": "boot",
    "mode": "0644",
    "path": "",
    "sha256": "0" * 64,
    "size": 0,
    "xxh3_128": "0" * 32,
}
_MIN_ITEM = 1 + len(compact_json(_SHORTEST_ITEM))


def inventory_floor(path: str) -> int:
    """A lower bound on the bytes `path`'s item takes in metadata.json (JSON never encodes a
    character in fewer bytes than UTF-8)."""
    return _MIN_ITEM + len(path.encode())


def top_directory(name: str) -> str:
    top = name.split("/", 1)[0]
    if not PROFILE_NAME.fullmatch(top):
        raise BundleError(f"top directory {show(top)} is not a valid profile name")
    return top


def relative_path(name: str, top: str) -> str:
    head, sep, rel = name.partition("/")
    if head != top or not sep:
        raise BundleError(f"member {show(name)} is not under the top directory {top!r}")
    return rel


def read_trailer(
    stream: TarStream,
    entry: TarEntry,
    rel: str,
    trailers: dict[str, SpilledBytes],
    records: RecordSpool,
) -> None:
    """A trailer hashed and (its first occurrence) kept in a temporary file as it streams."""
    if entry.size > MAX_TRAILER_BYTES:
        raise BundleError(f"{rel} declares {entry.size} bytes (limit {MAX_TRAILER_BYTES})")
    digest = hashlib.sha256()
    kept = None if rel in trailers else trailers.setdefault(rel, SpilledBytes())
    for chunk in stream.chunks():
        digest.update(chunk)
        if kept is not None:
            kept.write(chunk)
    records.append(entry, rel, digest.hexdigest(), None)


def hash_payload(
    stream: TarStream,
    entry: TarEntry,
    rel: str,
    *,
    sha256: bool,
    xxh3: bool,
    writer: MemberWriter | None,
) -> MemberRecord:
    sha = hashlib.sha256() if sha256 else None
    xxh = xxhash.xxh3_128() if xxh3 else None
    if writer is not None:
        writer.begin(rel, entry)
    for chunk in stream.chunks():
        if sha is not None:
            sha.update(chunk)
        if xxh is not None:
            xxh.update(chunk)
        if writer is not None:
            writer.write(chunk)
    if writer is not None:
        writer.end()
    return MemberRecord(
        entry, rel, sha.hexdigest() if sha else None, xxh.hexdigest() if xxh else None
    )


def parse_metadata(data: bytes) -> dict[str, Any]:
    """metadata.json as a dict; BundleError when it is not a UTF-8 JSON object."""
    try:
        document = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise BundleError(f"{METADATA} is not valid JSON ({reason})") from exc
    if not isinstance(document, dict):
        raise BundleError(f"{METADATA} does not hold a JSON object")
    if _SURROGATE_ESCAPE.search(data) and not _encodable(document):
        raise BundleError(
            f"{METADATA} is not valid JSON (it escapes a lone surrogate, which is no character)"
        )
    return document


# JSON may spell a UTF-16 surrogate (`\ud800`); alone it decodes to a str UTF-8 cannot encode.
# Only a document whose bytes hold such an escape needs the full check.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _encodable(document: Any) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


MAX_SCHEMA_PROBLEMS = 5


@cache
def metadata_validator() -> Draft202012Validator:
    """metadata.json's JSON Schema (draft 2020-12), compiled once per process."""
    return Draft202012Validator(load_schema("metadata.schema.json"))


def metadata_schema_problems(document: Mapping[str, Any]) -> list[str]:
    """At most MAX_SCHEMA_PROBLEMS one-line messages, empty when the document is schema-valid."""
    errors = islice(metadata_validator().iter_errors(document), MAX_SCHEMA_PROBLEMS)
    out = []
    for error in sorted(errors, key=_document_order):
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        message = " ".join(error.message.split())
        message = message if len(message) <= 160 else message[:157] + "..."
        out.append(f"{METADATA} does not match its schema at {where or '(root)'}: {message}")
    return out


def _document_order(error: Any) -> list[tuple[int, int, str]]:
    return [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.absolute_path]
