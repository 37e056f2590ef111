"""Metadata stage: the two trailer members, `metadata.json` and `SHA256SUMS`.

Both are built from the digests the archiver computed while streaming the payload, which is
why they are the last two members of the archive (see docs/bundle-format.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from osbundle.archiver import MemberDigest
from osbundle.macros import render_format
from osbundle.model import Member, Profile

FORMAT_VERSION = 1


def metadata_document(
    profile: Profile, members: Sequence[Member], digests: Sequence[MemberDigest]
) -> dict[str, Any]:
    """The metadata.json content; `digests[i]` belongs to `members[i]`."""
    unattend = [m for m in members if m.kind == "unattend"]
    predefined = next((m.path for m in unattend if m.name == profile.predefined_unattend), None)
    return {
        "formatVersion": FORMAT_VERSION,
        "profile": {
            "id": profile.id,
            "name": profile.name,
            "description": profile.description,
            "os": {
                "family": profile.os.family,
                "release": profile.os.release,
                "arch": profile.os.arch,
            },
        },
        "installOptions": dict(profile.install),
        "predefinedUnattend": predefined,
        "unattendFiles": [
            {
                "name": m.name,
                "path": m.path,
                "format": render_format(profile.os.family, "unattend", m.path),
            }
            for m in unattend
        ],
        "members": [inventory_item(m, d) for m, d in zip(members, digests, strict=True)],
    }


def inventory_item(member: Member, digest: MemberDigest) -> dict[str, Any]:
    item: dict[str, Any] = {
        "path": member.path,
        "kind": member.kind,
        "size": digest.size,
        "mode": f"{member.mode:04o}",
        "sha256": digest.sha256,
        "xxh3_128": digest.xxh3_128,
    }
    if member.phase is not None:
        item["phase"] = member.phase
    if member.name is not None:
        item["name"] = member.name
    if member.rendered:
        item["rendered"] = True
    return item


def canonical_json(document: dict[str, Any]) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8, one trailing newline: stable bytes."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (text + "\n").encode()


def metadata_json(
    profile: Profile, members: Sequence[Member], digests: Sequence[MemberDigest]
) -> bytes:
    return canonical_json(metadata_document(profile, members, digests))


def sha256sums(lines: Sequence[tuple[str, str]]) -> bytes:
    """`sha256sum -c` format for (relative path, hex digest) pairs, in the given order."""
    return "".join(sha256sum_line(path, digest) for path, digest in lines).encode()


def sha256sum_line(path: str, digest: str) -> str:
    # GNU coreutils escapes a name holding a backslash or newline and flags the line with `\`.
    if "\\" in path or "\n" in path:
        escaped = path.replace("\\", "\\\\").replace("\n", "\\n")
        return f"\\{digest}  {escaped}\n"
    return f"{digest}  {path}\n"
