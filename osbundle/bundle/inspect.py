"""`inspect_bundle`: a bundle's metadata and members, read in one pass without extracting."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osbundle.bundle.check import check_bundle
from osbundle.bundle.joined import join_key
from osbundle.bundle.read import Records, bundle_error, scan_bundle
from osbundle.bundle.spool import merge_join
from osbundle.model import TRAILERS


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


class Members:
    """The payload members of a scan with their kind and sha256 from metadata.json, made as
    they are iterated (from the scan's records and the inventory, neither held in memory)."""

    def __init__(self, records: Records, inventory: Any) -> None:
        self._records = records
        self._inventory = inventory  # a list, or joined.Inventory (sorted, no repeats)
        self._count = sum(1 for r in records if r.path not in TRAILERS)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[BundleMember]:
        if isinstance(self._inventory, list):
            listed = {item["path"]: item for item in self._inventory}
            pairs: Any = ((r, listed.get(r.path, {})) for r in self._records)
        else:
            pairs = (
                (record, item or {})
                for _, (record, item) in merge_join(
                    ((join_key(r.path), r) for r in self._records),
                    ((join_key(i["path"]), i) for i in self._inventory),
                )
            )
        for record, item in pairs:
            if record is not None and record.path not in TRAILERS:
                yield BundleMember(
                    name=record.entry.name,
                    path=record.path,
                    size=record.entry.size,
                    mode=record.entry.mode,
                    kind=item.get("kind", ""),
                    sha256=item.get("sha256", ""),
                )


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    profile_name: str  # the top directory
    metadata: Mapping[str, Any]  # parsed metadata.json, schema-valid
    members: Members  # payload members, archive order
    member_count: int  # every member, trailers included
    gzip_size: int
    tar_size: int
    problems: tuple[str, ...] = ()  # what check_bundle found, digests aside

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        """The whole report as one value (both member lists in memory: see `json_chunks`)."""
        return {
            **self._head(),
            "metadata": {**self.metadata, "members": list(self.metadata["members"])},
            "members": [m.to_json() for m in self.members],
        }

    def json_chunks(self) -> Iterator[str]:
        """`json.dumps(self.to_json(), indent=2, ensure_ascii=False)` in pieces, the member
        lists made item by item as they are written: what a 1,000,000-member bundle needs."""
        members = (m.to_json() for m in self.members)
        return indented_json({**self._head(), "metadata": self.metadata, "members": members}, 0)

    def _head(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "problems": list(self.problems),
            "profileName": self.profile_name,
            "gzipSize": self.gzip_size,
            "tarSize": self.tar_size,
            "memberCount": self.member_count,
        }


def indented_json(value: Any, level: int) -> Iterator[str]:
    """JSON text as `json.dumps(value, indent=2, ensure_ascii=False)` writes it; any iterable
    but a str or a mapping is an array, read once."""
    if isinstance(value, str) or not isinstance(value, Mapping | Iterable):
        yield json.dumps(value, ensure_ascii=False)
        return
    mapping = isinstance(value, Mapping)
    pairs: Iterable[tuple[Any, Any]] = (
        value.items() if isinstance(value, Mapping) else ((None, v) for v in value)
    )
    inner = "\n" + "  " * (level + 1)
    empty = True
    for key, item in pairs:
        yield ("[{"[mapping] if empty else ",") + inner
        if mapping:
            yield json.dumps(key, ensure_ascii=False) + ": "
        yield from indented_json(item, level + 1)
        empty = False
    closing = "]}"[mapping]
    yield ("[{"[mapping] + closing) if empty else "\n" + "  " * level + closing


def inspect_bundle(path: Path) -> BundleInfo:
    """Metadata and members of a bundle, read in one pass without extracting or hashing.

    Everything `verify` checks that needs no digest is checked too (duplicates, order, modes,
    SHA256SUMS and metadata.json against the members): `problems` lists what is wrong.
    A metadata.json that cannot be read or breaks its schema raises.
    """
    scan = scan_bundle(path, sha256=False, xxh3=False)
    checked = check_bundle(scan, fast=True)
    if checked.metadata is None:
        raise bundle_error(path, checked.unusable)
    return BundleInfo(
        path,
        scan.top,
        checked.metadata,
        Members(scan.records, checked.metadata["members"]),
        len(scan.records),
        scan.gzip_size,
        scan.tar_size,
        checked.problems,
    )
