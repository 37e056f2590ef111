"""Compare what a scan read against the bundle's own claims: SHA256SUMS and metadata.json.

Every check returns problems as values, each tagged with the archive index of the member it
concerns, so a report can list the first bad member first. `verify` reports them; `unpack`
refuses to finish when there is any.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from osbundle.bundle.read import (
    MemberRecord,
    ScanResult,
    metadata_schema_problems,
    parse_metadata,
)
from osbundle.bundle.tarread import show
from osbundle.errors import BundleError
from osbundle.kinds import KINDS
from osbundle.model import METADATA, MODES, TRAILERS, compact_json
from osbundle.model import SHA256SUMS as SUMS

AFTER_LAST = 1 << 40  # sorts after every member: things missing from the archive
_SUMS_LINE = re.compile(r"(\\?)([0-9a-f]{64}) [ *](.+)")
_LINE = re.compile(r"([^\n]*)\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Problem:
    order: int
    text: str


def label(top: str, path: str) -> str:
    """A member as problems name it: its full archive name, made safe for one line."""
    name = f"{top}/{path}"
    return show(name)[1:-1] if _CONTROL.search(name) else name


@dataclass(frozen=True)
class Checked:
    """What `check_bundle` found."""

    metadata: Mapping[str, Any] | None  # schema-valid metadata.json; None when it is unusable
    unusable: str  # why metadata is None ("" when it is not)
    problems: tuple[str, ...]  # the member-related ones in archive order


def check_scan(scan: ScanResult, *, fast: bool) -> list[str]:
    """Every problem found, the member-related ones in archive order."""
    return list(check_bundle(scan, fast=fast).problems)


def check_bundle(scan: ScanResult, *, fast: bool) -> Checked:
    """Every problem found, and the metadata document when it is usable.

    Members that were not hashed (`sha256` and `xxh3_128` None) are checked for everything
    but their content: that is what `inspect` reports.
    """
    problems = layout_problems(scan)
    metadata, unusable = load_metadata(scan, problems)
    sums = load_sums(scan, problems)
    if metadata is not None:
        problems += inventory_problems(scan, metadata, fast=fast)
    if sums is not None:
        problems += sums_problems(scan, sums, metadata)
    problems.sort(key=lambda p: p.order)
    return Checked(metadata, unusable, tuple(p.text for p in problems))


def first_records(scan: ScanResult) -> dict[str, MemberRecord]:
    out: dict[str, MemberRecord] = {}
    for record in scan.records:
        out.setdefault(record.path, record)
    return out


def layout_problems(scan: ScanResult) -> list[Problem]:
    """Duplicates, order, modes and the position of the two trailers."""
    out: list[Problem] = []
    seen: set[str] = set()
    previous = b""
    for record in scan.records:
        name, index = label(scan.top, record.path), record.entry.index
        if record.path in seen:
            out.append(Problem(index, f"{name}: duplicate member name"))
        seen.add(record.path)
        if record.entry.mode not in MODES:
            out.append(Problem(index, f"{name}: mode {record.entry.mode:04o} is not 0644 or 0755"))
        key = record.path.encode()
        if record.path not in TRAILERS:
            if key < previous:
                out.append(
                    Problem(
                        index, f"{name}: out of order (payload members are sorted by UTF-8 path)"
                    )
                )
            previous = key
    paths = [r.path for r in scan.records]
    for position, trailer in ((-2, METADATA), (-1, SUMS)):
        where = "last" if position == -1 else "second-to-last"
        if trailer not in scan.trailers:
            out.append(Problem(AFTER_LAST, f"the archive has no {trailer}"))
        elif len(paths) < -position or paths[position] != trailer:
            out.append(Problem(AFTER_LAST, f"{trailer} is not the {where} member"))
    return out


def load_metadata(scan: ScanResult, problems: list[Problem]) -> tuple[dict[str, Any] | None, str]:
    """The schema-valid metadata document, or None and why after adding that to `problems`."""
    raw = scan.trailers.get(METADATA)
    if raw is None:
        return None, f"the archive has no {METADATA}"
    order = first_records(scan)[METADATA].entry.index
    try:
        document = parse_metadata(raw)
    except BundleError as exc:
        problems.append(Problem(order, str(exc)))
        return None, str(exc)
    if not is_canonical(document, raw):
        problems.append(
            Problem(
                order,
                f"{METADATA} is not canonical JSON (sorted keys, no "
                "whitespace, one trailing newline)",
            )
        )
    schema = metadata_schema_problems(document)
    problems.extend(Problem(order, text) for text in schema)
    return (None, schema[0]) if schema else (document, "")


def is_canonical(document: Mapping[str, Any], raw: bytes) -> bool:
    """Whether `raw` is `canonical_json(document)`, compared piece by piece: the whole encoding
    of a document at the size limit would cost twice its size again."""
    with memoryview(raw) as view:
        position = 0
        for piece in canonical_pieces(document):
            data = piece.encode()  # parse_metadata refused lone surrogates: this cannot fail
            if view[position : position + len(data)] != data:
                return False
            position += len(data)
    return position == len(raw)


def canonical_pieces(document: Mapping[str, Any]) -> Iterator[str]:
    """`canonical_json(document)` as text, in pieces: a top-level list item by item."""
    yield "{"
    for number, key in enumerate(sorted(document)):
        yield ("," if number else "") + compact_json(key) + ":"
        value = document[key]
        if isinstance(value, list):
            yield "["
            for index, item in enumerate(value):
                yield ("," if index else "") + compact_json(item)
            yield "]"
        else:
            yield compact_json(value)
    yield "}\n"


def parse_sums(raw: bytes) -> tuple[list[tuple[str, str]], list[str]]:
    """(path, digest) pairs of a `sha256sum -c` file, and its malformed lines."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [], [f"{SUMS} is not UTF-8"]
    if text and not text.endswith("\n"):
        return [], [f"{SUMS} does not end with a newline"]
    pairs, bad = [], []
    # Lines end at "\n" only (str.splitlines() would also break names at U+2028 and U+2029),
    # taken one at a time rather than as a list of every line.
    for number, line in enumerate(_LINE.finditer(text), 1):
        match = _SUMS_LINE.fullmatch(line.group(1))
        if match is None:
            bad.append(f"{SUMS} line {number} is malformed")
            continue
        escaped, digest, path = match.groups()
        if escaped:
            path = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), path)
        pairs.append((path, digest))
    return pairs, bad


def load_sums(scan: ScanResult, problems: list[Problem]) -> list[tuple[str, str]] | None:
    raw = scan.trailers.get(SUMS)
    if raw is None:
        return None
    pairs, bad = parse_sums(raw)
    order = first_records(scan)[SUMS].entry.index
    problems.extend(Problem(order, text) for text in bad)
    return pairs


def inventory_problems(
    scan: ScanResult, metadata: Mapping[str, Any], *, fast: bool
) -> list[Problem]:
    """The payload against metadata.json: presence, size, mode, digests, kind directory, order."""
    records = first_records(scan)
    order = records[METADATA].entry.index
    out: list[Problem] = []
    if metadata["profile"]["name"] != scan.top:
        out.append(
            Problem(
                order,
                f"{METADATA} names the profile {metadata['profile']['name']!r} "
                f"but the top directory is {scan.top!r}",
            )
        )
    listed: dict[str, Mapping[str, Any]] = {}
    for item in metadata["members"]:
        if item["path"] in listed:
            out.append(
                Problem(order, f"{label(scan.top, item['path'])}: listed twice in {METADATA}")
            )
        listed.setdefault(item["path"], item)
    for path, record in records.items():
        if path in TRAILERS:
            continue
        item = listed.get(path)
        if item is None:
            out.append(
                Problem(
                    record.entry.index,
                    f"{label(scan.top, path)}: in the archive but not listed in {METADATA}",
                )
            )
        else:
            out += member_problems(scan.top, record, item, fast=fast)
    out += [
        Problem(
            AFTER_LAST, f"{label(scan.top, p)}: listed in {METADATA} but missing from the archive"
        )
        for p in listed
        if p not in records or p in TRAILERS
    ]
    if not in_order(listed, records):
        out.append(Problem(order, f"{METADATA} does not list the members in archive order"))
    out += unattend_problems(metadata, listed, order)
    if metadata["profile"]["os"]["family"] == "windows":
        out += folded_collisions(scan)
    return out


def member_problems(
    top: str, record: MemberRecord, item: Mapping[str, Any], *, fast: bool
) -> list[Problem]:
    name, index, entry = label(top, record.path), record.entry.index, record.entry
    texts = []
    if entry.size != item["size"]:
        texts.append(f"size {entry.size} differs from {METADATA} ({item['size']})")
    if f"{entry.mode:04o}" != item["mode"]:
        texts.append(f"mode {entry.mode:04o} differs from {METADATA} ({item['mode']})")
    if not fast and record.sha256 is not None and record.sha256 != item["sha256"]:
        texts.append(f"sha256 differs from {METADATA}")
    if record.xxh3_128 is not None and record.xxh3_128 != item["xxh3_128"]:
        texts.append(f"xxh3_128 differs from {METADATA}")
    kind_dir = KINDS[item["kind"]].directory
    if not record.path.startswith(kind_dir + "/"):
        texts.append(f"kind {item['kind']} but not under {kind_dir}/")
    return [Problem(index, f"{name}: {text}") for text in texts]


def in_order(listed: Iterable[str], records: Mapping[str, MemberRecord]) -> bool:
    """Whether the listed paths present in the archive appear in archive order."""
    indexes = [records[p].entry.index for p in listed if p in records]
    return all(a < b for a, b in pairwise(indexes))


def unattend_problems(
    metadata: Mapping[str, Any], listed: Mapping[str, Mapping[str, Any]], order: int
) -> list[Problem]:
    out = []
    paths = set()
    for entry in metadata["unattendFiles"]:
        paths.add(entry["path"])
        item = listed.get(entry["path"])
        if item is None or item["kind"] != "unattend" or item.get("name") != entry["name"]:
            out.append(
                Problem(
                    order,
                    f"{METADATA}: unattendFiles entry {entry['path']!r} does "
                    "not match an unattend member of the same name",
                )
            )
    predefined = metadata["predefinedUnattend"]
    if predefined is not None and predefined not in paths:
        out.append(
            Problem(
                order,
                f"{METADATA}: predefinedUnattend {predefined!r} is not one of the unattendFiles",
            )
        )
    return out


def folded_collisions(scan: ScanResult) -> list[Problem]:
    """Windows bundles: paths that collide after NFC normalisation and case folding."""
    seen: dict[str, str] = {}
    out = []
    for record in scan.records:
        key = unicodedata.normalize("NFC", record.path).casefold()
        first = seen.setdefault(key, record.path)
        if first != record.path:
            out.append(
                Problem(
                    record.entry.index,
                    f"{label(scan.top, record.path)}: collides with {first!r} when case is ignored",
                )
            )
    return out


def sums_problems(
    scan: ScanResult, pairs: Sequence[tuple[str, str]], metadata: Mapping[str, Any] | None
) -> list[Problem]:
    """Every member but SHA256SUMS against its line; in fast mode, cross-checked with metadata."""
    records = first_records(scan)
    order = records[SUMS].entry.index
    inventory = {item["path"]: item["sha256"] for item in (metadata or {}).get("members", [])}
    listed: dict[str, str] = {}
    out: list[Problem] = []
    for path, digest in pairs:
        if path in listed:
            out.append(Problem(order, f"{label(scan.top, path)}: listed twice in {SUMS}"))
        listed.setdefault(path, digest)
    for path, record in records.items():
        if path == SUMS:
            continue
        name, index, claimed = label(scan.top, path), record.entry.index, listed.get(path)
        if claimed is None:
            out.append(Problem(index, f"{name}: in the archive but not listed in {SUMS}"))
        elif record.sha256 is not None and record.sha256 != claimed:
            out.append(Problem(index, f"{name}: sha256 differs from {SUMS}"))
        elif record.sha256 is None and path in inventory and inventory[path] != claimed:
            out.append(Problem(index, f"{name}: {SUMS} and {METADATA} disagree on its sha256"))
    out += [
        Problem(AFTER_LAST, f"{label(scan.top, p)}: listed in {SUMS} but missing from the archive")
        for p in listed
        if p not in records or p == SUMS
    ]
    if not in_order(listed, records):
        out.append(Problem(order, f"{SUMS} does not list the members in archive order"))
    return out
