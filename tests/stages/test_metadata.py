from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.kinds import Kind
from osbundle.model import Member, MemberDigest, OsSpec, Profile, canonical_json
from osbundle.stages.metadata import metadata_json, profile_fields, sha256sums
from tests.factory import PROFILES


# The oracle: metadata.json as one document encoded canonically, which the stage's item-by-item
# writer must reproduce byte for byte.
def metadata_document(
    profile: Profile, members: Sequence[Member], digests: Sequence[MemberDigest]
) -> dict[str, Any]:
    return {
        **profile_fields(profile, members),
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


def test_canonical_json_is_sorted_compact_utf8_with_newline() -> None:
    data = canonical_json({"b": 1, "a": {"z": "ü", "y": [1, 2]}})
    assert data == '{"a":{"y":[1,2],"z":"ü"},"b":1}\n'.encode()


@given(st.dictionaries(st.text(), st.one_of(st.integers(), st.text(), st.booleans())))
def test_canonical_json_round_trips_and_is_order_independent(doc: dict[str, object]) -> None:
    reordered = dict(reversed(list(doc.items())))
    assert canonical_json(doc) == canonical_json(reordered)
    assert json.loads(canonical_json(doc)) == doc


def test_sha256sums_is_accepted_by_sha256sum(tmp_path: Path) -> None:
    names = ["plain.txt", "with space.txt", "back\\slash.txt", "new\nline.txt", "ünï.txt"]
    lines = []
    for i, name in enumerate(names):
        data = f"content {i}".encode()
        (tmp_path / name).write_bytes(data)
        lines.append((name, hashlib.sha256(data).hexdigest()))
    (tmp_path / "SUMS").write_bytes(sha256sums(lines))
    done = subprocess.run(
        ["sha256sum", "-c", "--strict", "SUMS"], cwd=tmp_path, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(b": OK") == len(names)


def test_real_metadata_of_every_example_validates_against_the_shipped_schema(
    tmp_path: Path,
) -> None:
    import tarfile

    from jsonschema import Draft202012Validator

    from osbundle.model import BuildRequest
    from osbundle.pipeline import build_bundle
    from osbundle.resources import load_schema

    validator = Draft202012Validator(load_schema("metadata.schema.json"))
    examples = PROFILES
    profiles = sorted(p.parent for p in examples.rglob("profile.yaml"))
    assert len(profiles) >= 5
    for profile in profiles:
        request = BuildRequest(profile, tmp_path / profile.name, source_date_epoch=0)
        result = build_bundle(request)
        with tarfile.open(result.path) as tar:
            names = tar.getnames()
            member = tar.extractfile(names[-2])
            assert member is not None
            document = json.loads(member.read())
        assert names[-2].endswith("/metadata.json")
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == [], (profile, errors)
        assert len(document["members"]) == len(names) - 2


TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT


@st.composite
def members_and_digests(draw: st.DrawFn) -> tuple[list[Member], list[MemberDigest]]:
    kinds: st.SearchStrategy[Kind] = st.sampled_from(get_args(Kind))
    members: list[Member] = []
    digests: list[MemberDigest] = []
    for stem in draw(st.lists(TEXT, max_size=8, unique=True)):
        kind = draw(kinds)
        # An unattend file needs a name with the Windows unattend suffix.
        path = f"unattend/{len(members)}.xml" if kind == "unattend" else stem
        size = draw(st.integers(0, 2**40))
        members.append(
            Member(
                path=path,
                kind=kind,
                mode=draw(st.sampled_from([0o644, 0o755])),
                size=size,
                data=b"",
                rendered=draw(st.booleans()),
                phase=draw(st.sampled_from(["pre", "post"])) if kind == "script" else None,
                name=draw(TEXT) if kind in ("unattend", "settings") else None,
            )
        )
        digests.append(MemberDigest(f"p/{path}", size, draw(HEX64), draw(HEX32)))
    return members, digests


HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)
HEX32 = st.text("0123456789abcdef", min_size=32, max_size=32)


@given(
    members_and_digests(),
    st.dictionaries(TEXT, JSON_SCALARS | st.lists(JSON_SCALARS, max_size=3), max_size=4),
    st.sampled_from([None, "a", "members"]),
)
def test_metadata_json_is_the_canonical_json_of_the_metadata_document(
    inventory: tuple[list[Member], list[MemberDigest]],
    install: dict[str, object],
    predefined: str | None,
) -> None:
    members, digests = inventory
    profile = profile_with(install, predefined)
    fast = metadata_json(profile, members, digests)
    assert fast == canonical_json(metadata_document(profile, members, digests))
    assert json.loads(fast)["members"][: len(members)] == [
        inventory_item(m, d) for m, d in zip(members, digests, strict=True)
    ]


def test_metadata_json_needs_one_digest_per_member() -> None:
    member = Member(path="a", kind="file", mode=0o644, size=0, data=b"")
    profile = Profile(
        Path("p/profile.yaml"),
        Path("p"),
        "x|p",
        "p",
        "",
        OsSpec("rhel", "9", "x86_64"),
        {},
        None,
        (),
    )
    with pytest.raises(ValueError, match="1 members but 0 digests"):
        metadata_json(profile, [member], [])


def profile_with(install: dict[str, object], predefined: str | None) -> Profile:
    """A profile whose text needs escaping in JSON, with these installation options."""
    return Profile(
        path=Path("p/profile.yaml"),
        root=Path("p"),
        id='win|p "1"',
        name="p",
        description="ü\n\t\\",
        os=OsSpec("windows", "2016", "x86_64"),
        install=install,
        predefined_unattend=predefined,
        entries=(),
    )
