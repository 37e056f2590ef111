"""`inspect_bundle`: a bundle's metadata and members, read in one pass without extracting."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osbundle.bundle.check import check_bundle
from osbundle.bundle.read import bundle_error, scan_bundle
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


@dataclass(frozen=True)
class BundleInfo:
    path: Path
    profile_name: str  # the top directory
    metadata: Mapping[str, Any]  # parsed metadata.json, schema-valid
    members: tuple[BundleMember, ...]  # payload members, archive order
    member_count: int  # every member, trailers included
    gzip_size: int
    tar_size: int
    problems: tuple[str, ...] = ()  # what check_bundle found, digests aside

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "problems": list(self.problems),
            "profileName": self.profile_name,
            "gzipSize": self.gzip_size,
            "tarSize": self.tar_size,
            "memberCount": self.member_count,
            "metadata": self.metadata,
            "members": [m.to_json() for m in self.members],
        }


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
    listed = {item["path"]: item for item in checked.metadata["members"]}
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
        path,
        scan.top,
        checked.metadata,
        members,
        len(scan.records),
        scan.gzip_size,
        scan.tar_size,
        checked.problems,
    )
