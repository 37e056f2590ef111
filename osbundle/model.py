"""Frozen dataclasses that cross stage boundaries, and the bundle format's fixed names and modes."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from osbundle.diagnostics import DocPath
from osbundle.kinds import Family, Kind

# The bundle format (docs/bundle-format.md): the trailers that close every bundle, in order
# (they hold the digests of every member before them), and the two member modes.
FORMAT_VERSION = 1
METADATA = "metadata.json"
SHA256SUMS = "SHA256SUMS"
TRAILERS = (METADATA, SHA256SUMS)
# What a reader takes of one bundle (bundle/tarread.py, bundle/read.py), and so what a build
# may make (profile/sources.capacity_diagnostics): members, trailers included. The readers keep
# nothing per member in memory (bundle/spool.py), so this bounds their time and temporary disk
# (some 100 bytes a record) instead: 4,000,000 is where a metadata.json of 1 GiB is full for
# 97-byte paths (1 GiB / 268 bytes an item), so that the two limits bind at about the same
# bundle, four times the 1,000,000 members a build is sized for.
MAX_MEMBERS = 4_000_000
FILE_MODE = 0o644
EXEC_MODE = 0o755
MODES = (FILE_MODE, EXEC_MODE)
# The largest trailer the builder writes and the reader accepts: metadata.json (SHA256SUMS,
# one shorter line per member, never outgrows it). A reader keeps it in a temporary file and
# parses it item by item when it is canonical (bundle/metastream.py), whole only when it is not
# (then at 3 to 13 times its size in memory): 1 GiB holds some 4,600,000 members with 60-byte
# paths (1,000,000 corpus members take 250 MB).
MAX_METADATA_BYTES = 1024 * 1024 * 1024
# Member mtime when SOURCE_DATE_EPOCH is unset: 1980-01-01T00:00:00Z (zip's epoch, and what
# other reproducible-build tools use), so that unset builds are reproducible too.
DEFAULT_EPOCH = 315532800


class ByteSink(Protocol):
    """Anything the archive can be written to: a file, a destination's upload stream."""

    def write(self, data: bytes, /) -> object: ...


def compact_json(value: Any) -> str:
    """Sorted keys, no insignificant whitespace, non-ASCII as is: the canonical JSON text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """metadata.json's encoding: `compact_json`, UTF-8, one trailing newline."""
    return (compact_json(document) + "\n").encode()


@dataclass(frozen=True)
class Position:
    """A place in a profile file; line and column are 1-based."""

    file: Path
    line: int
    col: int


@dataclass(frozen=True)
class OsSpec:
    family: Family
    release: str
    arch: str


@dataclass(frozen=True)
class SourceSpec:
    """One item of a kind list in profile.yaml (after `extends` is resolved).

    `source` is a path or glob relative to `base_dir`, the directory of the profile file that
    declared it (a base profile's items stay relative to the base's directory).
    """

    kind: Kind
    source: str
    base_dir: Path
    dest: str = ""  # sub-directory inside the kind's directory
    render: bool = False  # substitute macros (unattend files and scripts default to True)
    phase: Literal["pre", "post"] | None = None  # scripts only
    name: str | None = None  # unattend: its id; settings: the macro namespace
    yaml_path: DocPath = ()
    position: Position | None = None  # where its `source` was written
    dest_position: Position | None = None  # where its `dest` was written, when it has one


@dataclass(frozen=True)
class Profile:
    """A loaded, merged and schema-valid profile."""

    path: Path  # the profile.yaml
    root: Path  # its directory
    id: str
    name: str
    description: str
    os: OsSpec
    install: Mapping[str, Any]  # installation options, as written (JSON-compatible)
    predefined_unattend: str | None  # the `name` of the unattend entry that is the predefined one
    entries: tuple[SourceSpec, ...]
    document: Mapping[str, Any] = field(default_factory=dict)  # the merged document (for `plan`)


@dataclass(frozen=True, eq=False, slots=True)
class Folder:
    """A directory a profile's files were collected from: `rel` (real, no link in it, "" for
    the root itself) below `root` (the real path of the profile's or a base's directory), the
    device and inode it had, and the folder it is in (None for the root). Read back only
    through these, never by a path string.

    Compared and hashed by identity (one object per directory walked): the readers' cache of
    open folders (tarstream/sourcefile.py) is keyed by it, and `parent` lets a miss start from
    the nearest folder already open instead of from the root."""

    root: str
    rel: str
    dev: int
    ino: int
    parent: Folder | None = None


class SourceId(NamedTuple):
    """Which file a source is: the entry `name` of `folder`, with the identity and stat it had
    when collected. The readers refuse any other file found there (tarstream/sourcefile.py).

    Named tuples, not frozen dataclasses: one is made per collected file, at a third the cost,
    and they are as immutable."""

    folder: Folder
    name: str
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


@dataclass(frozen=True, slots=True)
class ResolvedFile:
    """One regular file a SourceSpec matched, checked to be inside its base directory."""

    spec: SourceSpec
    abs_path: str  # a str, not a Path: building one Path per file was a third of the walk
    rel_source: str  # path relative to spec.base_dir (POSIX)
    bundle_path: str  # path inside `<profile-name>/`, e.g. "drivers/intel-e1d/e1d.inf"
    size: int
    mtime_ns: int
    executable: bool
    name: str | None = None  # a named kind's name: as written, else the file's stem
    origin: SourceId | None = None  # where and which file it is; None only in hand-made values


class Member(NamedTuple):
    """One payload member of the bundle, ready for the archiver.

    Exactly one of `source` (a regular file streamed from disk) and `data` (generated bytes,
    e.g. a rendered unattend file) is set. `mtime_ns` and `size` are the source's values at
    collection; the archiver fails the build if either changed by the time it reads the file.

    A named tuple, not a frozen dataclass: a large build makes one for every member on every
    pass over its member list (read back from a spill file each time), and a frozen
    dataclass's __init__ was the largest cost of a pass (2.5 us against 0.24 us made from a
    tuple with `tuple.__new__`, timeit on 2026-12-02). As immutable.
    """

    path: str  # inside `<profile-name>/`, POSIX, no leading slash
    kind: Kind
    mode: int  # 0o644 or 0o755
    size: int
    source: str | None = None  # the file's absolute path (ResolvedFile.abs_path), for messages
    data: bytes | None = None
    mtime_ns: int = 0
    rendered: bool = False
    phase: Literal["pre", "post"] | None = None
    name: str | None = None
    origin: SourceId | None = None  # set with `source`: the file to read, as collected


class MemberList(Protocol):
    """The payload members of one build, in archive order (sorted by the UTF-8 bytes of their
    path), read as often as needed and never all held at once: a large profile's list lives in
    a temporary file, so that memory does not grow with the member count. `span` may be called
    from forked processes at the same time (the reader processes take their batches with it).
    """

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Member]: ...

    def span(self, start: int, stop: int) -> Iterator[Member]:
        """Members `start` to `stop - 1`, in order."""
        ...

    def descriptors(self) -> tuple[int, ...]:
        """The file descriptors a forked process must keep open to read the list."""
        ...


@dataclass(frozen=True)
class ListedMembers:
    """A MemberList held in memory: hand-made member lists (tests, small generated sets)."""

    items: tuple[Member, ...]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Member]:
        return iter(self.items)

    def span(self, start: int, stop: int) -> Iterator[Member]:
        return iter(self.items[start:stop])

    def descriptors(self) -> tuple[int, ...]:
        return ()


@dataclass(frozen=True, slots=True)
class MemberDigest:
    """What the archiver computed for one member while it streamed it."""

    name: str  # the full archive member name, `<profile-name>/<path>`
    size: int
    sha256: str
    xxh3_128: str


Compression = Literal["fast", "default", "best"]


@dataclass(frozen=True)
class BuildRequest:
    """What `osbundle build` was asked to do for one profile."""

    profile_dir: Path
    outdir: Path
    force: bool = False
    compression: Compression = "default"
    threads: int = 0  # 0: one per CPU
    source_date_epoch: int | None = None  # from SOURCE_DATE_EPOCH; None: now (file name only)


@dataclass(frozen=True)
class BuildResult:
    """The appliance-shaped result (`filename`, `jobID`, `result`, `messages`) plus digests."""

    filename: str
    job_id: str
    result: Literal["success", "failed"]
    messages: tuple[str, ...] = ()
    path: str = ""  # absolute path of the bundle ("" when failed)
    sha256: str = ""
    tar_sha256: str = ""
    size: int = 0
    members: int = 0
    seconds: float = 0.0
    compressor: str = ""

    @classmethod
    def failed(cls, message: str, job_id: str = "") -> BuildResult:
        """The result of a build that did not complete: the one constructor for it."""
        return cls(filename="", job_id=job_id, result="failed", messages=(message,))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BuildResult:
        """`to_json` read back (a job's stored result); missing fields keep their defaults."""
        return cls(
            filename=str(data.get("filename", "")),
            job_id=str(data.get("jobID", "")),
            result="success" if data.get("result") == "success" else "failed",
            messages=tuple(str(m) for m in data.get("messages", ())),
            path=str(data.get("path", "")),
            sha256=str(data.get("sha256", "")),
            tar_sha256=str(data.get("tarSha256", "")),
            size=int(data.get("size", 0)),
            members=int(data.get("members", 0)),
            seconds=float(data.get("seconds", 0.0)),
            compressor=str(data.get("compressor", "")),
        )

    def appliance_json(self) -> dict[str, Any]:
        """The four fields the appliance answers an export with."""
        return {
            "filename": self.filename,
            "jobID": self.job_id,
            "result": self.result,
            "messages": list(self.messages),
        }

    def to_json(self) -> dict[str, Any]:
        """The appliance's fields, then where the bundle went and what it is."""
        return {
            **self.appliance_json(),
            "path": self.path,
            "sha256": self.sha256,
            "tarSha256": self.tar_sha256,
            "size": self.size,
            "members": self.members,
            "seconds": round(self.seconds, 3),
            "compressor": self.compressor,
        }
