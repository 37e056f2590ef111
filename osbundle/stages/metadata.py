"""Metadata stage: the two trailer members, `metadata.json` and `SHA256SUMS`.

Both are built from the digests the archiver computed while streaming the payload, which is
why they are the last two members of the archive (see docs/bundle-format.md). metadata.json is
canonical JSON (`model.canonical_json`); its member inventory is written item by item as the
digests arrive, one f-string per member instead of a dict the encoder then sorts (a third of
the time on 50,000 members), and the document around the inventory is `metadata_frame`, so
that the archiver can stream the items from a temporary file (stages/trailers.py).
tests/stages/test_metadata.py holds it to the canonical encoding of the whole document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from osbundle.kinds import render_format
from osbundle.model import FORMAT_VERSION, Member, MemberDigest, Profile, compact_json


def profile_fields(profile: Profile, members: Iterable[Member]) -> dict[str, Any]:
    """Everything in metadata.json but the member inventory (only unattend members count)."""
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
    }


def metadata_json(
    profile: Profile, members: Sequence[Member], digests: Sequence[MemberDigest]
) -> bytes:
    """The metadata.json bytes; `digests[i]` belongs to `members[i]`."""
    if len(members) != len(digests):
        raise ValueError(f"{len(members)} members but {len(digests)} digests")
    return metadata_json_of(profile, members, list(map(inventory_json, members, digests)))


def metadata_json_of(profile: Profile, members: Iterable[Member], inventory: list[str]) -> bytes:
    """`metadata_json` from the members' `inventory_json` items, made as the digests came."""
    prefix, suffix = metadata_frame(profile, members)
    return prefix + ("[" + ",".join(inventory) + "]").encode() + suffix


def metadata_frame(profile: Profile, members: Iterable[Member]) -> tuple[bytes, bytes]:
    """metadata.json around its inventory array: `{` and every key before "members" up to
    `"members":`, then `,` and the keys after it with the closing `}` and newline."""
    fields = {key: compact_json(value) for key, value in profile_fields(profile, members).items()}
    keys = sorted([*fields, "members"])
    at = keys.index("members")
    before = "".join(f"{_string(key)}:{fields[key]}," for key in keys[:at])
    after = "".join(f",{_string(key)}:{fields[key]}" for key in keys[at + 1 :])
    return ("{" + before + '"members":').encode(), (after + "}\n").encode()


def inventory_json(member: Member, digest: MemberDigest) -> str:
    """One member's inventory item as canonical JSON, the keys in sorted order."""
    name = "" if member.name is None else f',"name":{_string(member.name)}'
    phase = "" if member.phase is None else f',"phase":{_string(member.phase)}'
    rendered = ',"rendered":true' if member.rendered else ""
    return (
        f'{{"kind":{_string(member.kind)},"mode":"{member.mode:04o}"{name}'
        f',"path":{_string(member.path)}{phase}{rendered},"sha256":"{digest.sha256}"'
        f',"size":{digest.size:d},"xxh3_128":"{digest.xxh3_128}"}}'
    )


_string = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses for a str


def sha256sums(lines: Sequence[tuple[str, str]]) -> bytes:
    """`sha256sum -c` format for (relative path, hex digest) pairs, in the given order."""
    return "".join(sha256sum_line(path, digest) for path, digest in lines).encode()


def sha256sum_line(path: str, digest: str) -> str:
    # GNU coreutils escapes a name holding a backslash or newline and flags the line with `\`.
    if "\\" in path or "\n" in path:
        escaped = path.replace("\\", "\\\\").replace("\n", "\\n")
        return f"\\{digest}  {escaped}\n"
    return f"{digest}  {path}\n"
