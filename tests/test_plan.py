"""plan_bundle: members in archive order, their sources and sizes, and the build's fingerprint."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from osbundle.errors import BuildError
from osbundle.model import BuildRequest
from osbundle.pipeline import Prepared, build_bundle, prepare
from osbundle.plan import PlannedMember, plan_bundle
from tests.factory import make_profile, profile_trees

EPOCH = 1700000000
KS = b"# #predefined.profile.id#\nlang #predefined.otherSettings.installLocale#\n"
COMMON = b"#!/bin/sh\necho #predefined.profile.name#\n"


def with_base(tmp_path: Path) -> Path:
    """A child profile extending `../base`, with a rendered unattend file and a plain script."""
    make_profile(
        tmp_path / "base",
        {"scripts/common.sh": COMMON},
        name="base",
        lists={"scripts": [{"source": "scripts/common.sh"}]},
    )
    child = make_profile(
        tmp_path / "child",
        {
            "unattend/ks.cfg": KS,
            "a.txt": b"alpha",
            "run.sh": b"#!/bin/sh\n#x.y#\n",
            "z/ü.bin": bytes(range(256)),
            "z/Z.bin": b"Z" * 700,
        },
        name="child",
        lists={
            "unattend": [{"source": "unattend/ks.cfg", "name": "ks"}],
            "files": [{"source": "a.txt"}, {"source": "z"}],
            "scripts": [{"source": "run.sh", "render": False}],
        },
        install={"unattend": "ks", "locale": "de_DE.UTF-8"},
    )
    document = json.loads((child / "profile.yaml").read_text(encoding="utf-8"))
    document["extends"] = "../base"
    (child / "profile.yaml").write_text(json.dumps(document), encoding="utf-8")
    return child


def bundle_members(path: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with tarfile.open(path, "r:gz") as tar:
        for info in tar:
            f = tar.extractfile(info)
            assert f is not None
            out[info.name] = f.read()
    return out


def test_members_in_archive_order_with_profile_relative_sources(tmp_path: Path) -> None:
    planned = plan_bundle(with_base(tmp_path))
    assert planned.profile.name == "child"
    assert planned.members == (
        PlannedMember("custom/files/a.txt", "file", "a.txt", 5, 0o644, False),
        PlannedMember("custom/files/z/Z.bin", "file", "z/Z.bin", 700, 0o644, False),
        PlannedMember("custom/files/z/ü.bin", "file", "z/ü.bin", 256, 0o644, False),
        PlannedMember(
            "custom/scripts/common.sh",
            "script",
            "../base/scripts/common.sh",
            len(b"#!/bin/sh\necho child\n"),
            0o755,
            True,
        ),
        PlannedMember("custom/scripts/run.sh", "script", "run.sh", 16, 0o755, False),
        PlannedMember(
            "unattend/ks.cfg",
            "unattend",
            "unattend/ks.cfg",
            len(b"# rhel|child\nlang de_DE.UTF-8\n"),
            0o644,
            True,
        ),
    )
    paths = [m.path.encode() for m in planned.members]
    assert paths == sorted(paths)
    assert planned.total_bytes == sum(m.size for m in planned.members)


def test_the_plan_is_what_the_build_writes(tmp_path: Path) -> None:
    profile = with_base(tmp_path)
    planned = plan_bundle(profile)
    built = build_bundle(BuildRequest(profile, tmp_path / "out", source_date_epoch=EPOCH))
    contents = bundle_members(built.path)
    names = list(contents)
    assert names[:-2] == [f"child/{m.path}" for m in planned.members]
    assert [len(contents[n]) for n in names[:-2]] == [m.size for m in planned.members]
    assert sum(len(contents[n]) for n in names[:-2]) == planned.total_bytes
    metadata = contents["child/metadata.json"]
    assert planned.fingerprint == hashlib.sha256(metadata).hexdigest()
    rendered = {item["path"] for item in json.loads(metadata)["members"] if item.get("rendered")}
    assert rendered == {m.path for m in planned.members if m.rendered}


def test_to_json_names_members_under_the_bundle_s_top_directory(tmp_path: Path) -> None:
    planned = plan_bundle(with_base(tmp_path))
    as_json = planned.to_json()
    assert as_json["fingerprint"] == planned.fingerprint
    assert as_json["totalBytes"] == planned.total_bytes
    assert as_json["profile"]["scripts"][0] == {"source": "scripts/common.sh"}  # merged, base first
    first = as_json["members"][0]
    assert first == {
        "path": "child/custom/files/a.txt",
        "kind": "file",
        "source": "a.txt",
        "size": 5,
        "mode": "0644",
        "rendered": False,
    }


def test_the_fingerprint_follows_the_content(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"one"})
    before = plan_bundle(profile).fingerprint
    (profile / "a.txt").write_bytes(b"two")
    assert plan_bundle(profile).fingerprint != before


def changed_after_collecting(
    monkeypatch: pytest.MonkeyPatch, change: Mapping[str, bytes], keep_mtime: bool
) -> None:
    """plan_bundle's files change right after they were collected, before they are digested."""

    @contextlib.contextmanager
    def prepare_then_change(profile_dir: Path) -> Iterator[Prepared]:
        with prepare(profile_dir) as prepared:
            for rel, data in change.items():
                path = profile_dir / rel
                before = path.stat()
                path.write_bytes(data)
                if keep_mtime:
                    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
                else:
                    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
            yield prepared

    monkeypatch.setattr("osbundle.plan.prepare", prepare_then_change)


def test_a_source_that_grows_after_collection_fails_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"abc"})
    changed_after_collecting(monkeypatch, {"a.txt": b"abcd"}, keep_mtime=True)
    with pytest.raises(BuildError, match=r"a\.txt: size changed since the profile was collected"):
        plan_bundle(profile)


def test_a_source_rewritten_in_place_after_collection_fails_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = make_profile(tmp_path / "p", {"a.txt": b"abc"})
    changed_after_collecting(monkeypatch, {"a.txt": b"xyz"}, keep_mtime=False)
    with pytest.raises(BuildError, match=r"a\.txt: modified since the profile was collected"):
        plan_bundle(profile)


COPIES = itertools.count()


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=profile_trees())
def test_two_copies_of_a_tree_have_one_fingerprint(tmp_path: Path, files: dict[str, bytes]) -> None:
    case = tmp_path / str(next(COPIES))
    first = plan_bundle(make_profile(case / "one", files))
    second = plan_bundle(make_profile(case / "elsewhere" / "two", files))
    assert first.fingerprint == second.fingerprint
    assert first.members == second.members
    assert first.total_bytes == sum(map(len, files.values()))
