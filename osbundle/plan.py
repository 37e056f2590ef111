"""`osbundle plan`: what a build would do, computed without writing anything.

The content fingerprint is the sha256 of the exact `metadata.json` the build would write: it
covers the profile, the installation options and the path, mode, size and digests of every
member, so two profile directories with the same fingerprint give the same tar stream for the
same SOURCE_DATE_EPOCH. It is hashed as the members are digested, one at a time, and the
members are listed from the build's own member list in a second pass: a plan of a million
files holds none of them in memory (`plan_stream`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osbundle.model import Member, MemberDigest, MemberList, Profile
from osbundle.pipeline import Prepared, prepare
from osbundle.stages.metadata import inventory_json, metadata_frame
from osbundle.tarstream.digest import digest_bytes, digest_source


@dataclass(frozen=True)
class PlannedMember:
    path: str
    kind: str
    source: str  # profile-relative source file ("" for none)
    size: int
    mode: int
    rendered: bool

    def to_json(self, top: str) -> dict[str, Any]:
        return {
            "path": f"{top}/{self.path}",
            "kind": self.kind,
            "source": self.source,
            "size": self.size,
            "mode": f"{self.mode:04o}",
            "rendered": self.rendered,
        }


@dataclass(frozen=True)
class Plan:
    profile: Profile
    members: tuple[PlannedMember, ...]
    total_bytes: int
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {
            **plan_head(self.profile, self.fingerprint, self.total_bytes),
            "members": [m.to_json(self.profile.name) for m in self.members],
        }


@dataclass(frozen=True)
class PlanStream:
    """A plan whose members are read from the build's lists as often as asked (`members`)."""

    prepared: Prepared
    count: int
    total_bytes: int
    fingerprint: str

    @property
    def profile(self) -> Profile:
        return self.prepared.profile

    def members(self) -> Iterator[PlannedMember]:
        profile = self.prepared.profile
        for source, final in zip(self.prepared.collected, self.prepared.members, strict=True):
            yield planned_member(profile, source, final)


def plan_head(profile: Profile, fingerprint: str, total_bytes: int) -> dict[str, Any]:
    """Every field of `plan --json` but the members."""
    return {
        "profile": dict(profile.document),
        "fingerprint": fingerprint,
        "totalBytes": total_bytes,
    }


def plan_bundle(profile_dir: Path) -> Plan:
    """The whole plan in memory (for small profiles and tests); the CLI streams `plan_stream`."""
    with plan_stream(profile_dir) as plan:
        members = tuple(plan.members())
        return Plan(plan.profile, members, plan.total_bytes, plan.fingerprint)


@contextlib.contextmanager
def plan_stream(profile_dir: Path) -> Iterator[PlanStream]:
    with prepare(profile_dir) as prepared:
        surveyed = prepared.surveyed
        fingerprint = fingerprint_of(prepared.profile, prepared.members, surveyed.unattend)
        yield PlanStream(prepared, surveyed.count, surveyed.size, fingerprint)


def fingerprint_of(profile: Profile, members: MemberList, unattend: Sequence[Member]) -> str:
    """The sha256 of the metadata.json the build writes (`metadata_frame` around the inventory
    items of `members`, whose `unattend` members are known), each member digested as the
    archiver will."""
    prefix, suffix = metadata_frame(profile, unattend)
    sha = hashlib.sha256(prefix + b"[")
    separator = ""
    for member in members:
        sha.update(
            (separator + inventory_json(member, digest_member(profile.name, member))).encode()
        )
        separator = ","
    sha.update(b"]" + suffix)
    return sha.hexdigest()


def planned_member(profile: Profile, collected: Member, final: Member) -> PlannedMember:
    source = ""
    if collected.source is not None:
        source = relative_to_profile(profile.root, collected.source)
    return PlannedMember(final.path, final.kind, source, final.size, final.mode, collected.rendered)


def relative_to_profile(root: Path, path: str) -> str:
    """The source as seen from the profile directory (`../base/...` for a base's files)."""
    return Path(os.path.relpath(path, root)).as_posix()


def digest_member(top: str, member: Member) -> MemberDigest:
    """What the archiver will compute for `member`, by the same read path and digest code."""
    if member.data is not None:
        digests = digest_bytes(member.data)
    else:
        assert member.source is not None
        assert member.origin is not None
        digests = digest_source(member.source, member.origin)
    return MemberDigest(f"{top}/{member.path}", member.size, *digests)
