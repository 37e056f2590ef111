"""The checks of `check.check_bundle`, streamed, for a bundle in the form the builder writes.

The builder writes the payload sorted by UTF-8 path, then metadata.json and SHA256SUMS, and
lists the members in both trailers in the same order. Then the records, the inventory items
and the SHA256SUMS lines are three streams sorted by one key, joined in one pass
(`spool.merge_join`), and nothing but the problems found and the unattend items is held in
memory. Whenever the bundle is not in that form (members out of order or repeated, a trailer
missing or misplaced, metadata.json not canonical or not schema-valid, a malformed SHA256SUMS)
`streamed_check` gives up (None) and `check_bundle` checks it whole, which names each problem
exactly; the problems of a bundle in that form are the same either way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from osbundle.bundle.metastream import BEGIN, MEMBERS, NotStreamable, canonical_fields, sums_lines
from osbundle.bundle.problems import (
    AFTER_LAST,
    Checked,
    Problem,
    label,
    member_problems,
    profile_problems,
    unattend_problems,
)
from osbundle.bundle.read import Records, ScanResult, metadata_validator
from osbundle.bundle.spool import MemberRecord, SpilledBytes, Unordered, external_sort, merge_join
from osbundle.model import METADATA, MODES, TRAILERS
from osbundle.model import SHA256SUMS as SUMS

Key = tuple[int, bytes]


def join_key(path: str) -> Key:
    """Archive order, as the builder writes it: the payload by UTF-8 path, then the trailers."""
    return (1, str(TRAILERS.index(path)).encode()) if path in TRAILERS else (0, path.encode())


@cache
def item_validator() -> Draft202012Validator:
    """The schema of one inventory item (with the definitions it refers to)."""
    schema: Any = metadata_validator().schema
    return Draft202012Validator({"$ref": "#/$defs/member", "$defs": schema["$defs"]})


_REQUIRED = frozenset({"path", "kind", "size", "mode", "sha256", "xxh3_128"})
_ALLOWED = _REQUIRED | {"phase", "name", "rendered"}
_KINDS = ("driver", "boot", "unattend", "settings", "script", "software", "file")
_BAD_PATH = re.compile(r"(^/|//|/$|(^|/)\.\.?(/|$)|[\u0000-\u001f\u007f-\u009f])")
_SHA256, _XXH3 = re.compile(r"[0-9a-f]{64}"), re.compile(r"[0-9a-f]{32}")


def plainly_valid(item: Any) -> bool:
    """Whether `item` is an inventory item the schema ("#/$defs/member") certainly accepts,
    checked in plain Python; False leaves it to the schema itself (`item_validator`). It must
    never accept what the schema refuses: tests/bundle/test_joined.py holds it to that."""
    if type(item) is not dict or not _REQUIRED <= item.keys() <= _ALLOWED:
        return False
    path, kind, size = item["path"], item["kind"], item["size"]
    return (
        type(path) is str
        and path != ""
        and _BAD_PATH.search(path) is None
        and kind in _KINDS
        and type(size) is int
        and size >= 0
        and item["mode"] in ("0644", "0755")
        and type(item["sha256"]) is str
        and _SHA256.fullmatch(item["sha256"]) is not None
        and type(item["xxh3_128"]) is str
        and _XXH3.fullmatch(item["xxh3_128"]) is not None
        and (kind == "script") == (item.get("phase") in ("pre", "post"))
        and (kind == "script") == ("phase" in item)
        and (kind in ("unattend", "settings")) == ("name" in item)
        and ("name" not in item or (type(item["name"]) is str and item["name"] != ""))
        and (
            "rendered" not in item or (item["rendered"] is True and kind in ("unattend", "script"))
        )
    )


class Inventory:
    """metadata.json's "members", read back from the trailer each time it is iterated."""

    def __init__(self, raw: SpilledBytes, count: int) -> None:
        self._raw = raw
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for key, value in canonical_fields(self._raw.chunks()):
            if key == MEMBERS and value is not BEGIN:
                yield value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list | tuple | Inventory):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


def streamed_check(scan: ScanResult, *, fast: bool) -> Checked | None:
    """`check_bundle`'s answer for a bundle in the builder's form, or None for any other."""
    metadata, sums = scan.trailers.get(METADATA), scan.trailers.get(SUMS)
    if metadata is None or sums is None:
        return None
    try:
        return _streamed(scan, metadata, sums, fast)
    except (NotStreamable, Unordered):
        return None


def _streamed(scan: ScanResult, metadata: SpilledBytes, sums: SpilledBytes, fast: bool) -> Checked:
    fixed: dict[str, Any] = {}
    unattend: dict[str, Mapping[str, Any]] = {}
    layout: list[Problem] = []
    inventory: list[Problem] = []
    summed: list[Problem] = []
    trailers: dict[str, int] = {}
    joined = merge_join(
        _records(scan.records),
        _items(canonical_fields(metadata.chunks()), fixed, unattend),
        ((join_key(pair[0]), pair) for pair in _sums(sums)),
    )
    count = 0
    for _, (record, item, pair) in joined:
        count += item is not None
        if record is None:
            if item is not None:
                inventory.append(_missing(scan.top, item["path"], METADATA))
            if pair is not None:
                summed.append(_missing(scan.top, pair[0], SUMS))
            continue
        if record.entry.mode not in MODES:
            text = f"mode {record.entry.mode:04o} is not 0644 or 0755"
            layout.append(Problem(record.entry.index, f"{label(scan.top, record.path)}: {text}"))
        if record.path in TRAILERS:
            trailers[record.path] = record.entry.index
        elif item is None:
            text = f"in the archive but not listed in {METADATA}"
            inventory.append(Problem(record.entry.index, f"{label(scan.top, record.path)}: {text}"))
        else:
            inventory += member_problems(scan.top, record, item, fast=fast)
        if record.path != SUMS:
            summed += _sums_problems(scan.top, record, pair and pair[1], item)
    if tuple(trailers) != TRAILERS or not metadata_validator().is_valid(fixed):
        raise NotStreamable("trailers misplaced, or metadata.json not schema-valid")
    order = trailers[METADATA]
    inventory[:0] = profile_problems(fixed, scan.top, order)
    inventory += unattend_problems(fixed, unattend, order)
    if fixed["profile"]["os"]["family"] == "windows":
        inventory += folded_collisions(scan.top, scan.records)
    problems = [*layout, *inventory, *summed]
    problems.sort(key=lambda p: p.order)
    return Checked(
        {**fixed, MEMBERS: Inventory(metadata, count)}, "", tuple(p.text for p in problems)
    )


def _records(records: Records) -> Iterator[tuple[Key, MemberRecord]]:
    for record in records:
        yield join_key(record.path), record


def _items(
    fields: Iterable[tuple[str, Any]],
    fixed: dict[str, Any],
    unattend: dict[str, Mapping[str, Any]],
) -> Iterator[tuple[Key, Mapping[str, Any]]]:
    """The inventory items, each schema-valid; the other fields into `fixed` (with an empty
    "members"), the unattend items into `unattend`."""
    validator = item_validator()
    for key, value in fields:
        if key != MEMBERS:
            fixed[key] = value
        elif value is BEGIN:
            fixed[MEMBERS] = []
        elif not (plainly_valid(value) or validator.is_valid(value)) or value["path"] in TRAILERS:
            raise NotStreamable("an inventory item breaks the schema or names a trailer")
        else:
            if value["kind"] == "unattend":
                unattend[value["path"]] = value
            yield join_key(value["path"]), value


def _sums(raw: SpilledBytes) -> Iterator[tuple[str, str]]:
    for path, digest in sums_lines(raw.chunks()):
        if path == SUMS:
            raise NotStreamable("SHA256SUMS lists itself")
        yield path, digest


def _missing(top: str, path: str, trailer: str) -> Problem:
    text = f"listed in {trailer} but missing from the archive"
    return Problem(AFTER_LAST, f"{label(top, path)}: {text}")


def _sums_problems(
    top: str, record: MemberRecord, claimed: str | None, item: Mapping[str, Any] | None
) -> list[Problem]:
    name, index = label(top, record.path), record.entry.index
    if claimed is None:
        return [Problem(index, f"{name}: in the archive but not listed in {SUMS}")]
    if record.sha256 is not None and record.sha256 != claimed:
        return [Problem(index, f"{name}: sha256 differs from {SUMS}")]
    if record.sha256 is None and item is not None and item["sha256"] != claimed:
        return [Problem(index, f"{name}: {SUMS} and {METADATA} disagree on its sha256")]
    return []


def folded_collisions(top: str, records: Records) -> list[Problem]:
    """Windows bundles: paths that collide after NFC normalisation and case folding, found by
    sorting (folded path, index) on disk rather than with a dict of every path."""
    keyed = (
        (unicodedata.normalize("NFC", r.path).casefold(), r.entry.index, r.path) for r in records
    )
    out: list[Problem] = []
    current, first = None, ""
    for key, index, path in external_sort(keyed):
        if key != current:
            current, first = key, path
        elif path != first:
            text = f"collides with {first!r} when case is ignored"
            out.append(Problem(index, f"{label(top, path)}: {text}"))
    out.sort(key=lambda p: p.order)
    return out
