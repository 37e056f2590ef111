"""Read a bundle once, safely: members, digests and the two trailers; `inspect_bundle` on top.

`scan_bundle` is the one pass that `inspect`, `verify` and `unpack` share. It streams the
archive through `tarread`, enforces the single `<profile-name>/` top directory, hashes every
payload member while it streams (never holding one in memory), hands payload bytes to an
optional `MemberWriter`, and keeps only the trailers (`metadata.json`, `SHA256SUMS`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import xxhash

from osbundle.bundle.schema import metadata_schema_problems
from osbundle.bundle.tarread import GzipSource, TarEntry, TarStream, show
from osbundle.errors import BundleError, InputError

METADATA = "metadata.json"
SUMS = "SHA256SUMS"
TRAILERS = (METADATA, SUMS)
MAX_TRAILER_BYTES = 256 * 1024 * 1024  # metadata for 1,000,000 members stays well below this
PROFILE_NAME = re.compile(r"(?!\.\.?$)[A-Za-z0-9._-]{1,100}")


class MemberWriter(Protocol):
    """Receives each payload member's bytes as they stream past (used by unpack)."""

    def begin(self, path: str, entry: TarEntry) -> None: ...

    def write(self, chunk: bytes) -> None: ...

    def end(self) -> None: ...


@dataclass(frozen=True)
class MemberRecord:
    """One archive member as read: `path` is relative to the top directory."""

    entry: TarEntry
    path: str
    sha256: str | None  # None when not hashed (inspect, or fast mode for payload)
    xxh3_128: str | None


@dataclass(frozen=True)
class ScanResult:
    top: str
    records: tuple[MemberRecord, ...]  # every member, archive order
    trailers: Mapping[str, bytes]  # first occurrence of metadata.json / SHA256SUMS
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
    """One streaming pass over the bundle. Raises BundleError for anything unreadable or unsafe."""
    archive_hash = hashlib.sha256() if archive_sha256 else None
    with open_bundle(path) as raw:
        try:
            source = GzipSource(raw, archive_hash.update if archive_hash else None)
            stream = TarStream(source)
            top = ""
            records: list[MemberRecord] = []
            trailers: dict[str, bytes] = {}
            for entry in stream.entries():
                top = top or top_directory(entry.name)
                rel = relative_path(entry.name, top)
                if rel in TRAILERS:
                    records.append(read_trailer(stream, entry, rel, trailers))
                else:
                    records.append(
                        hash_payload(stream, entry, rel, sha256=sha256, xxh3=xxh3, writer=writer)
                    )
        except OSError as exc:
            raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not records:
        raise BundleError("the archive holds no members")
    return ScanResult(
        top=top,
        records=tuple(records),
        trailers=trailers,
        gzip_header=source.header,
        gzip_size=source.compressed_size,
        tar_size=source.produced,
        archive_sha256=archive_hash.hexdigest() if archive_hash else None,
    )


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
    stream: TarStream, entry: TarEntry, rel: str, trailers: dict[str, bytes]
) -> MemberRecord:
    if entry.size > MAX_TRAILER_BYTES:
        raise BundleError(f"{rel} declares {entry.size} bytes (limit {MAX_TRAILER_BYTES})")
    data = b"".join(stream.chunks())
    trailers.setdefault(rel, data)
    return MemberRecord(entry, rel, hashlib.sha256(data).hexdigest(), None)


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
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True)
class BundleMember:
    """A payload member: tar header facts plus kind and sha256 from metadata.json."""

    name: str  # full archive name, `<profile-name>/<path>`
    path: str  # relative to the top directory
    size: int
    mode: int
    kind: str  # "" when metadata.json does not list the member
    sha256: str  # from metadata.json; "" when not listed

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "size": self.size,
            "mode": f"{self.mode:04o}",
            "kind": self.kind,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    profile_name: str  # the top directory
    metadata: Mapping[str, Any]  # parsed metadata.json, schema-valid
    members: tuple[BundleMember, ...]  # payload members, archive order
    member_count: int  # every member, trailers included
    gzip_size: int
    tar_size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "profileName": self.profile_name,
            "gzipSize": self.gzip_size,
            "tarSize": self.tar_size,
            "memberCount": self.member_count,
            "metadata": self.metadata,
            "members": [m.to_json() for m in self.members],
        }

    def describe(self) -> str:
        """Human-readable text: a summary, then one line per member."""
        profile = self.metadata.get("profile", {})
        os_spec = profile.get("os", {})
        lines = [
            f"bundle:  {self.path.name}",
            f"profile: {profile.get('name', '')} ({profile.get('id', '')})",
            f"os:      {os_spec.get('family', '')} {os_spec.get('release', '')} "
            f"{os_spec.get('arch', '')}",
            f"size:    {self.gzip_size} bytes gzip, {self.tar_size} bytes tar, "
            f"{self.member_count} members",
        ]
        lines += [
            f"{m.mode:04o} {m.size:>12} {m.kind:<9} {show(m.path)[1:-1]}" for m in self.members
        ]
        return "\n".join(lines)


def inspect_bundle(path: Path) -> BundleInfo:
    """Metadata and members of a bundle, read in one pass without extracting or hashing."""
    scan = scan_bundle(path, sha256=False, xxh3=False)
    raw = scan.trailers.get(METADATA)
    if raw is None:
        raise BundleError(f"the archive has no {METADATA}")
    metadata = parse_metadata(raw)
    problems = metadata_schema_problems(metadata)
    if problems:
        raise BundleError(problems[0])
    listed = {item["path"]: item for item in metadata["members"]}
    members = tuple(
        BundleMember(
            name=r.entry.name,
            path=r.path,
            size=r.entry.size,
            mode=r.entry.mode,
            kind=listed.get(r.path, {}).get("kind", ""),
            sha256=listed.get(r.path, {}).get("sha256", ""),
        )
        for r in scan.records
        if r.path not in TRAILERS
    )
    return BundleInfo(
        path, scan.top, metadata, members, len(scan.records), scan.gzip_size, scan.tar_size
    )
