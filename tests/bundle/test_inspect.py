"""inspect_bundle: metadata and members of a bundle, read in one pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.bundle.inspect import indented_json, inspect_bundle
from osbundle.cli.render import bundle_text
from osbundle.errors import BundleError
from tests import bundle_factory as bf


def test_inspect_reports_metadata_members_and_sizes(tmp_path: Path) -> None:
    tar = bf.tar_bytes(bf.bundle_entries())
    archive = bf.gzip_bytes(tar)
    bundle = bf.write_bundle(tmp_path, archive)
    info = inspect_bundle(bundle)
    assert info.profile_name == bf.TOP
    assert info.gzip_size == len(archive)
    assert info.tar_size == len(tar)
    assert info.member_count == len(bf.windows_members()) + 2
    assert info.metadata == bf.metadata_doc(bf.Profile(), bf.windows_members())
    expected = [
        (f"{bf.TOP}/{m.path}", m.path, len(m.data), m.mode, m.kind) for m in bf.windows_members()
    ]
    assert [(m.name, m.path, m.size, m.mode, m.kind) for m in info.members] == expected
    inventory = {i["path"]: i["sha256"] for i in info.metadata["members"]}
    assert all(m.sha256 == inventory[m.path] for m in info.members)
    as_json = json.loads(json.dumps(info.to_json()))
    assert as_json["members"][0]["mode"] == "0644"
    assert as_json["tarSize"] == len(tar)
    text = bundle_text(info)
    assert "windows 2016 x86_64" in text
    assert "0755" in text
    assert "custom/scripts/post.ps1" in text


def test_inspect_rejects_metadata_that_breaks_its_schema(tmp_path: Path) -> None:
    entries = bf.bundle_entries()
    name, _, mode = entries[-2]
    entries[-2] = (name, b'{"formatVersion":2}\n', mode)
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    with pytest.raises(BundleError, match="does not match its schema"):
        inspect_bundle(bundle)


def test_inspect_without_metadata(tmp_path: Path) -> None:
    bundle = bf.write_bundle(
        tmp_path, bf.gzip_bytes(bf.finish_tar(bf.regular("p/custom/files/ok.txt", b"ok\n")))
    )
    with pytest.raises(BundleError, match=r"no metadata\.json"):
        inspect_bundle(bundle)


def test_inspect_of_a_good_bundle_finds_no_problem(tmp_path: Path) -> None:
    info = inspect_bundle(bf.good_bundle(tmp_path))
    assert info.ok
    assert info.problems == ()
    assert info.to_json()["ok"] is True
    assert info.to_json()["problems"] == []


def test_inspect_reports_a_duplicate_member(tmp_path: Path) -> None:
    entries = bf.bundle_entries()
    entries.insert(1, entries[0])
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    info = inspect_bundle(bundle)
    assert not info.ok
    assert f"{entries[0][0]}: duplicate member name" in info.problems
    assert info.to_json()["ok"] is False


def test_inspect_reports_a_traversal_entry_in_sha256sums(tmp_path: Path) -> None:
    entries = bf.bundle_entries()
    name, sums, mode = entries[-1]
    entries[-1] = (name, sums + f"{'ab' * 32}  ../../etc/passwd\n".encode(), mode)
    bundle = bf.write_bundle(tmp_path, bf.gzip_bytes(bf.tar_bytes(entries)))
    problems = inspect_bundle(bundle).problems
    assert problems == (
        f"{bf.TOP}/../../etc/passwd: listed in SHA256SUMS but missing from the archive",
    )


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=10,
    )
)
def testindented_json_json_is_what_json_dumps_writes(value: Any) -> None:
    assert "".join(indented_json(value, 0)) == json.dumps(value, indent=2, ensure_ascii=False)


@pytest.mark.parametrize("ok", [True, False])
def test_json_chunks_are_the_report_as_json_dumps_writes_it(tmp_path: Path, ok: bool) -> None:
    members = bf.windows_members()
    if not ok:
        members.append(bf.FMember("custom/files/zz-late.txt", b"late", "file"))
        members.insert(0, members.pop())  # out of order: checked whole, members a list
    info = inspect_bundle(bf.good_bundle(tmp_path, members))
    assert info.ok is ok
    text = "".join(info.json_chunks())
    assert text == json.dumps(info.to_json(), indent=2, ensure_ascii=False)
    assert json.loads(text)["members"][0]["path"] == members[0].path
