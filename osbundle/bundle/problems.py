"""What the checks of a scan find, as values: `Problem`, how a member is named, `Checked`, and
the per-member comparisons that the whole check (`check`) and the streamed one (`joined`) share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from osbundle.bundle.spool import MemberRecord
from osbundle.bundle.tarread import show
from osbundle.kinds import KINDS
from osbundle.model import METADATA

AFTER_LAST = 1 << 40  # sorts after every member: things missing from the archive
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Problem:
    order: int
    text: str


@dataclass(frozen=True)
class Checked:
    """What `check_bundle` found."""

    # schema-valid metadata.json; None when it is unusable. Its "members" is a list, or, for a
    # bundle checked as it streams, a re-iterable sequence read back from the trailer.
    metadata: Mapping[str, Any] | None
    unusable: str  # why metadata is None ("" when it is not)
    problems: tuple[str, ...]  # the member-related ones in archive order


def label(top: str, path: str) -> str:
    """A member as problems name it: its full archive name, made safe for one line."""
    name = f"{top}/{path}"
    return show(name)[1:-1] if _CONTROL.search(name) else name


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


def unattend_problems(
    metadata: Mapping[str, Any], listed: Mapping[str, Mapping[str, Any]], order: int
) -> list[Problem]:
    """unattendFiles and predefinedUnattend against the inventory (`listed` by path; holding
    only the unattend items is enough)."""
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


def profile_problems(metadata: Mapping[str, Any], top: str, order: int) -> list[Problem]:
    name = metadata["profile"]["name"]
    if name == top:
        return []
    return [
        Problem(order, f"{METADATA} names the profile {name!r} but the top directory is {top!r}")
    ]
