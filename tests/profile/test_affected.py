"""`validate --changed`: which profiles a set of changed files affects."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.profile.affected import affected_profiles
from tests.factory import PROFILES


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example profiles plus a second child of the RHEL base, run from the repository root."""
    shutil.copytree(PROFILES, tmp_path / "profiles")
    shutil.copytree(PROFILES / "rhel-9", tmp_path / "profiles" / "rhel-9b")
    (tmp_path / "README.md").write_text("not a profile\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def names(files: list[Path]) -> list[str]:
    return [f.parent.name for f in files]


def test_a_file_a_profile_names_picks_that_profile(repo: Path) -> None:
    assert names(affected_profiles(Path(), [Path("profiles/rhel-9/unattend/ks.cfg")])) == ["rhel-9"]


def test_a_base_s_file_picks_the_base_and_every_profile_extending_it(repo: Path) -> None:
    for changed in ("profiles/base/rhel-base/settings/common.json", "profiles/base/rhel-base"):
        assert names(affected_profiles(Path(), [Path(changed)])) == [
            "rhel-base",
            "rhel-9",
            "rhel-9b",
        ]


def test_a_base_that_does_not_parse_still_picks_its_children(repo: Path) -> None:
    base = repo / "profiles" / "base" / "rhel-base" / "profile.yaml"
    base.write_text("id: [unclosed\n")
    assert names(affected_profiles(Path(), [base])) == ["rhel-base", "rhel-9", "rhel-9b"]


def test_files_no_profile_depends_on_pick_none(repo: Path) -> None:
    assert affected_profiles(Path(), [Path("README.md"), Path("profiles/nowhere.txt")]) == []
    assert affected_profiles(Path(), []) == []


def test_new_and_deleted_files_count_by_where_they_are(repo: Path) -> None:
    gone = repo / "profiles" / "esxi-8" / "scripts" / "firstboot.sh"
    gone.unlink()
    new = repo / "profiles" / "sles-15" / "new.xml"
    new.write_text("<x/>")
    assert names(affected_profiles(Path(), [gone, new])) == ["esxi-8", "sles-15"]


def test_paths_are_compared_as_real_paths(repo: Path) -> None:
    os.symlink(repo / "profiles", repo / "link")
    assert names(affected_profiles(repo / "link", [Path("profiles/esxi-8/profile.yaml")])) == [
        "esxi-8"
    ]
    assert names(affected_profiles(Path(), [repo / "link" / "esxi-8" / "unattend"])) == ["esxi-8"]


def test_a_sibling_directory_with_a_common_prefix_is_not_inside(repo: Path) -> None:
    (repo / "profiles" / "rhel-9-notes").mkdir()
    assert affected_profiles(Path(), [Path("profiles/rhel-9-notes/x")]) == []


@given(st.sets(st.sampled_from(sorted(p.name for p in PROFILES.iterdir() if p.name != "base"))))
def test_each_changed_profile_yaml_picks_exactly_its_profile(chosen: set[str]) -> None:
    changed = [PROFILES / name / "profile.yaml" for name in chosen]
    assert set(names(affected_profiles(PROFILES, changed))) == chosen


def test_an_extends_key_spelled_with_an_escape_is_still_followed(repo: Path) -> None:
    child = repo / "profiles" / "rhel-9b" / "profile.yaml"
    child.write_text(child.read_text().replace("extends:", '"ext\\x65nds":'))
    assert b"extends" not in child.read_bytes()
    changed = [Path("profiles/base/rhel-base/scripts/harden.sh")]
    assert names(affected_profiles(Path(), changed)) == ["rhel-base", "rhel-9", "rhel-9b"]
