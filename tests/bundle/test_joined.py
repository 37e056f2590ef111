"""The streamed check (bundle/joined.py) against the whole one (check.check_whole): the same
problems for every bundle in the builder's form, and a bundle in any other form left to the
whole check."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.bundle import spool
from osbundle.bundle.check import check_bundle, check_whole
from osbundle.bundle.inspect import inspect_bundle
from osbundle.bundle.joined import Inventory, item_validator, plainly_valid, streamed_check
from osbundle.bundle.read import scan_bundle
from osbundle.bundle.spool import SpilledBytes
from osbundle.bundle.verify import verify_bundle
from osbundle.errors import InputError
from tests import bundle_factory as bf
from tests.bundle.bigbundle import member, write_big_bundle
from tests.bundle.test_check import Entries, assemble, scan_of

MEMBERS = bf.windows_members()


def agree(entries: Entries, *, fast: bool) -> bool:
    """Whether the streamed check took the bundle; where it did, it agrees with the whole."""
    scan = scan_of(entries, fast=fast)
    streamed = streamed_check(scan, fast=fast)
    whole = check_whole(scan, fast=fast)
    if streamed is not None:
        assert streamed.problems == whole.problems
        assert streamed.metadata == whole.metadata
        assert streamed.unusable == whole.unusable == ""
    assert check_bundle(scan, fast=fast).problems == whole.problems
    return streamed is not None


@pytest.mark.parametrize("fast", [False, True])
def test_a_well_formed_bundle_is_checked_as_it_streams(fast: bool) -> None:
    assert agree(bf.bundle_entries(), fast=fast)
    scan = scan_of(bf.bundle_entries())
    checked = streamed_check(scan, fast=fast)
    assert checked is not None
    assert isinstance(checked.metadata, dict)
    assert isinstance(checked.metadata["members"], Inventory)
    assert len(checked.metadata["members"]) == len(MEMBERS)


EDITS = st.fixed_dictionaries(
    {
        "unlisted": st.sets(st.integers(0, len(MEMBERS) - 1)),  # archive, not metadata.json
        "missing": st.sets(st.integers(0, len(MEMBERS) - 1)),  # metadata.json, not the archive
        "unsummed": st.sets(st.integers(0, len(MEMBERS) - 1)),  # archive, not SHA256SUMS
        "resized": st.sets(st.integers(0, len(MEMBERS) - 1)),
        "redigested": st.sets(st.integers(0, len(MEMBERS) - 1)),
        "kind": st.sets(st.integers(0, len(MEMBERS) - 1)),
        "name": st.sampled_from([bf.TOP, "other-profile"]),
        "family": st.sampled_from(["windows", "rhel"]),
        "upper": st.booleans(),  # a member whose name folds onto another's (Windows)
    }
)


def edited(edit: dict[str, Any]) -> Entries:
    members = list(MEMBERS)
    if edit["upper"]:
        members.append(bf.FMember("custom/files/TOOLS/README.TXT", b"x", "file"))
        members.sort(key=lambda m: m.path.encode())
    doc = bf.metadata_doc(bf.Profile(name=edit["name"], family=edit["family"]), members)
    items = doc["members"]
    for i in edit["resized"]:
        items[i]["size"] += 1
    for i in edit["redigested"]:
        items[i]["sha256"] = "0" * 64
        items[i]["xxh3_128"] = "0" * 32
    for i in edit["kind"]:
        items[i]["kind"] = "boot" if items[i]["kind"] == "file" else "file"
        for extra in ("name", "phase", "rendered"):
            items[i].pop(extra, None)
    doc["members"] = [item for i, item in enumerate(items) if i not in edit["unlisted"]]
    kept = [m for i, m in enumerate(members) if i not in edit["missing"]]
    unsummed = {members[i].path for i in edit["unsummed"]}

    def drop(raw: bytes) -> bytes:
        lines = raw.decode().splitlines(keepends=True)
        return "".join(x for x in lines if x.split("  ", 1)[1][:-1] not in unsummed).encode()

    return assemble(kept, bf.canonical(doc), drop)


@settings(max_examples=60, deadline=None)
@given(EDITS, st.booleans())
def test_content_problems_are_the_same_streamed_or_whole(edit: dict[str, Any], fast: bool) -> None:
    assert agree(edited(edit), fast=fast)


@pytest.mark.parametrize(
    "change",
    [
        lambda e: [e[1], e[0], *e[2:]],  # payload out of order
        lambda e: [e[0], *e],  # a duplicate member
        lambda e: [*e[:-2], e[-1], e[-2]],  # trailers swapped
        lambda e: e[:-1],  # no SHA256SUMS
        lambda e: [*e[:-2], (e[-2][0], e[-2][1].replace(b'":', b'": ', 1), 0o644), e[-1]],
        lambda e: [*e[:-1], (e[-1][0], e[-1][1] + b"bad line\n", 0o644)],
        lambda e: [*e[:-1], (e[-1][0], e[-1][1][:-1], 0o644)],
    ],
)
def test_a_bundle_in_another_form_is_left_to_the_whole_check(change: Any) -> None:
    entries = change(bf.bundle_entries())
    assert not agree(entries, fast=False)


def test_inventory_is_read_back_each_time_it_is_iterated() -> None:
    doc = bf.metadata_doc(bf.Profile(), MEMBERS)
    inventory = Inventory(SpilledBytes.of(bf.canonical(doc)), len(MEMBERS))
    assert list(inventory) == doc["members"] == list(inventory)
    assert inventory == doc["members"]
    assert inventory != doc["members"][:-1]


def test_a_generated_bundle_verifies_across_batches_and_sorted_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "RUN", 1000)  # folded_collisions merges several sorted runs
    bundle = write_big_bundle(5000, tmp_path)  # more than one RecordSpool batch
    for fast in (False, True):
        report = verify_bundle(bundle, fast=fast)
        assert report.ok, report.problems[:3]
        assert report.checked == 5002
    scan = scan_bundle(bundle, sha256=False, xxh3=False)
    assert streamed_check(scan, fast=True) is not None
    info = inspect_bundle(bundle)
    assert info.ok
    assert len(info.members) == 5000
    assert [m.path for m in info.members][:2] == [member(0)[0], member(1)[0]]
    assert all(m.kind == "file" and len(m.sha256) == 64 for m in info.members)


ITEM_VALUES = st.one_of(
    st.sampled_from(["file", "script", "unattend", "settings", "boot", "0644", "0755", "pre"]),
    st.sampled_from(["", "custom/files/a", "/a", "a//b", "a/../b", "a\x85", "a\n", "0" * 64]),
    st.sampled_from(["0" * 32, "0" * 64 + "\n", "A" * 64]),
    st.integers(-2, 2),
    st.booleans(),
    st.none(),
    st.floats(0, 2),
    st.lists(st.none(), max_size=1),
)


@settings(max_examples=500)
@given(
    st.dictionaries(
        st.sampled_from(["path", "kind", "size", "mode", "sha256", "xxh3_128", "phase", "name"]),
        ITEM_VALUES,
    ),
    st.sampled_from(list(MEMBERS)),
    st.booleans(),
)
def test_plainly_valid_never_accepts_what_the_schema_refuses(
    changes: dict[str, Any], base: bf.FMember, rendered: bool
) -> None:
    item = {**bf.inventory_item(base), **changes}
    if rendered:
        item["rendered"] = True
    if plainly_valid(item):
        assert item_validator().is_valid(item)


def test_plainly_valid_takes_the_builders_items() -> None:
    linux = bf.FMember("custom/scripts/a.sh", b"", "script", 0o755, phase="pre", rendered=True)
    for item in [*bf.metadata_doc(bf.Profile(), MEMBERS)["members"], bf.inventory_item(linux)]:
        assert plainly_valid(item), item


def test_an_unusable_temporary_directory_is_an_input_error_not_a_bad_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = bf.good_bundle(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "gone"))
    with pytest.raises(InputError, match=r"^cannot use a temporary file in .*/gone: "):
        verify_bundle(bundle)
