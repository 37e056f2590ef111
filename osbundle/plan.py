"""`osbundle plan`: what a build would do, computed without writing anything.

The content fingerprint is the sha256 of the exact `metadata.json` the build would write: it
covers the profile, the installation options and the path, mode, size and digests of every
member, so two profile directories with the same fingerprint give the same tar stream for the
same SOURCE_DATE_EPOCH.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osbundle.model import Member, MemberDigest, Profile
from osbundle.pipeline import prepare
from osbundle.stages.metadata import metadata_json
from osbundle.tarstream.digest import digest_bytes, digest_source


@dataclass(frozen=True)
class PlannedMember:
    path: str
    kind: str
    source: str  # profile-relative source file ("" for none)
    size: int
    mode: int
    rendered: bool


@dataclass(frozen=True)
class Plan:
    profile: Profile
    members: tuple[PlannedMember, ...]
    total_bytes: int
    fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "profile": dict(self.profile.document),
            "fingerprint": self.fingerprint,
            "totalBytes": self.total_bytes,
            "members": [
                {
                    "path": f"{self.profile.name}/{m.path}",
                    "kind": m.kind,
                    "source": m.source,
                    "size": m.size,
                    "mode": f"{m.mode:04o}",
                    "rendered": m.rendered,
                }
                for m in self.members
            ],
        }


def plan_bundle(profile_dir: Path) -> Plan:
    with prepare(profile_dir) as prepared:
        profile, members = prepared.profile, tuple(prepared.members)
        digests = [digest_member(profile.name, m) for m in members]
        planned = tuple(
            planned_member(profile, source, final)
            for source, final in zip(prepared.collected, members, strict=True)
        )
    return Plan(
        profile=profile,
        members=planned,
        total_bytes=sum(m.size for m in members),
        fingerprint=hashlib.sha256(metadata_json(profile, members, digests)).hexdigest(),
    )


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
