"""Compare what a scan read against the bundle's own claims: SHA256SUMS and metadata.json.

Every check returns problems as values, each tagged with the archive index of the member it
concerns, so a report can list the first bad member first. `verify` reports them; `unpack`
refuses to finish when there is any.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from itertools import pairwise
from typing import Any

from osbundle.bundle.joined import folded_collisions, streamed_check
from osbundle.bundle.problems import (
    AFTER_LAST,
    Checked,
    Problem,
    label,
    member_problems,
    profile_problems,
    unattend_problems,
)
from osbundle.bundle.read import ScanResult, metadata_schema_problems, parse_metadata
from osbundle.bundle.spool import MemberRecord
from osbundle.errors import BundleError
from osbundle.model import METADATA, MODES, TRAILERS, compact_json
from osbundle.model import SHA256SUMS as SUMS

_SUMS_LINE = re.compile(r"(\\?)([0-9a-f]{64}) [ *](.+)")
_LINE = re.compile(r"([^\n]*)\n")


def check_scan(scan: ScanResult, *, fast: bool) -> list[str]:
    """Every problem found, the member-related ones in archive order."""
    return list(check_bundle(scan, fast=fast).problems)


def check_bundle(scan: ScanResult, *, fast: bool) -> Checked:
    """Every problem found, and the metadata document when it is usable.

    Members that were not hashed (`sha256` and `xxh3_128` None) are checked for everything
    but their content: that is what `inspect` reports. A bundle in the form the builder writes
    is checked as it streams (`joined`); any other is checked whole, its records in memory.
    """
    streamed = streamed_check(scan, fast=fast)
    return check_whole(scan, fast=fast) if streamed is None else streamed


def check_whole(scan: ScanResult, *, fast: bool) -> Checked:
    """`check_bundle` with every record and the trailers in memory: any bundle, each problem
    named exactly (duplicates, order, malformed trailers...)."""
    scan = replace(scan, records=tuple(scan.records))
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
    spilled = scan.trailers.get(METADATA)
    if spilled is None:
        return None, f"the archive has no {METADATA}"
    raw = spilled.read()
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
    spilled = scan.trailers.get(SUMS)
    if spilled is None:
        return None
    pairs, bad = parse_sums(spilled.read())
    order = first_records(scan)[SUMS].entry.index
    problems.extend(Problem(order, text) for text in bad)
    return pairs


def inventory_problems(
    scan: ScanResult, metadata: Mapping[str, Any], *, fast: bool
) -> list[Problem]:
    """The payload against metadata.json: presence, size, mode, digests, kind directory, order."""
    records = first_records(scan)
    order = records[METADATA].entry.index
    out: list[Problem] = profile_problems(metadata, scan.top, order)
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
        out += folded_collisions(scan.top, scan.records)
    return out


def in_order(listed: Iterable[str], records: Mapping[str, MemberRecord]) -> bool:
    """Whether the listed paths present in the archive appear in archive order."""
    indexes = [records[p].entry.index for p in listed if p in records]
    return all(a < b for a, b in pairwise(indexes))


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
