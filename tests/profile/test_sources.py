from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.profile.sources import collision_key, resolve_sources
from tests.profile.helpers import make_files, profile, resolve, spec


def test_where_members_land(tmp_path: Path) -> None:
    make_files(tmp_path, ["a/b/c.txt", "a/b/d/e.txt", "a/x.txt", "top.txt"])
    assert resolve(tmp_path, spec(tmp_path, "top.txt")) == (["custom/files/top.txt"], [])
    assert resolve(tmp_path, spec(tmp_path, "a/b", dest="t/u")) == (
        ["custom/files/t/u/b/c.txt", "custom/files/t/u/b/d/e.txt"],
        [],
    )
    assert resolve(tmp_path, spec(tmp_path, "a/*/c.txt")) == (["custom/files/b/c.txt"], [])
    assert resolve(tmp_path, spec(tmp_path, "a/**"))[0] == [
        "custom/files/b/c.txt",
        "custom/files/b/d/e.txt",
        "custom/files/x.txt",
    ]
    assert resolve(tmp_path, spec(tmp_path, "**/e.txt"))[0] == ["custom/files/a/b/d/e.txt"]
    assert resolve(tmp_path, spec(tmp_path, "a/**/*.txt"))[0] == [
        "custom/files/b/c.txt",
        "custom/files/b/d/e.txt",
        "custom/files/x.txt",
    ]
    assert resolve(tmp_path, spec(tmp_path, "./a//x.txt/", kind="script"))[0] == [
        "custom/scripts/x.txt"
    ]
    assert resolve(tmp_path, spec(tmp_path, "a/[bx]*"))[0] == [
        "custom/files/b/c.txt",
        "custom/files/b/d/e.txt",
        "custom/files/x.txt",
    ]


def test_resolved_file_fields(tmp_path: Path) -> None:
    make_files(tmp_path, ["run.sh"], mode=0o750)
    make_files(tmp_path, ["data.bin"])
    files, diags = resolve_sources(profile(tmp_path, [spec(tmp_path, "*")]))
    assert diags == ()
    by_name = {f.rel_source: f for f in files}
    run = by_name["run.sh"]
    assert run.executable
    assert not by_name["data.bin"].executable
    assert run.abs_path == str(tmp_path / "run.sh")
    assert run.size == len(b"run.sh")
    assert run.mtime_ns == os.stat(tmp_path / "run.sh").st_mtime_ns


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("/etc/passwd", "is absolute"),
        ("../x", "'..' component"),
        ("a/../../x", "'..' component"),
        ("a\\b", "backslash"),
        ("missing.txt", "matches no file"),
        ("nothing/*.txt", "matches no file"),
        ("a/*.nothing", "matches no file"),
        (".", "profile directory itself"),
        ("a\tb", "control character"),
    ],
)
def test_rejected_sources(tmp_path: Path, source: str, fragment: str) -> None:
    make_files(tmp_path, ["a/x.txt"])
    files, messages = resolve(tmp_path, spec(tmp_path, source))
    assert files == []
    assert len(messages) == 1
    assert fragment in messages[0]


def test_collisions(tmp_path: Path) -> None:
    make_files(tmp_path, ["a/Tool.exe", "b/tool.exe", "c/Tool.exe", "n/caf\u00e9", "m/cafe\u0301"])
    specs = [spec(tmp_path, f"{d}/*", index=i) for i, d in enumerate("abcnm")]
    files, messages = resolve(tmp_path, *specs)
    assert len(files) == 5
    assert messages == [
        "'c/Tool.exe' lands at 'custom/files/Tool.exe', which collides with 'a/Tool.exe' "
        "from files[0]"
    ]
    files, messages = resolve(tmp_path, *specs, family="windows")
    assert len(messages) == 3
    assert "'b/tool.exe'" in messages[0]
    assert "(ignoring case)" in messages[0]
    assert "'m/cafe\u0301'" in messages[2]


def test_collision_key() -> None:
    assert collision_key("A/\u00c9", fold=True) == collision_key("a/E\u0301", fold=True)
    assert collision_key("A", fold=False) != collision_key("a", fold=False)


def test_family_rules_and_unsupported_kinds(tmp_path: Path) -> None:
    make_files(tmp_path, ["d/x.rpm", "d/readme.txt", "WinPE.wim"])
    _, messages = resolve(
        tmp_path,
        spec(tmp_path, "d", kind="driver"),
        spec(tmp_path, "WinPE.wim", kind="boot"),
        spec(tmp_path, "WinPE.wim", kind="boot", index=1),
    )
    assert messages == [
        "'d/readme.txt' is not an accepted driver file for rhel (accepted: .rpm, .iso)",
        "boot files are only supported for windows profiles, not rhel",
    ]


@settings(max_examples=40, deadline=None)
@given(
    st.sets(
        st.from_regex(r"[a-zA-Z0-9_]{1,6}(/[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,5}){0,3}", fullmatch=True),
        min_size=1,
        max_size=15,
    )
)
def test_directory_source_takes_every_file_exactly_once(names: set[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "p"
        written = []
        for name in sorted(names):
            path = root / "src" / name
            if any(p.is_file() for p in [*path.parents]) or path.is_dir():
                continue  # a name that is also a directory of another name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
            written.append(name)
        files, diags = resolve_sources(profile(root, [spec(root, "src", dest="x")]))
        assert diags == ()
        assert sorted(f.bundle_path for f in files) == sorted(
            f"custom/files/x/src/{n}" for n in written
        )
        assert [f.rel_source for f in files] == sorted(f"src/{n}" for n in written)
        globbed, _ = resolve_sources(profile(root, [spec(root, "src/**")]))
        assert sorted(f.bundle_path for f in globbed) == sorted(
            f"custom/files/{n}" for n in written
        )


@pytest.mark.slow
def test_fifty_thousand_files_resolve(tmp_path: Path) -> None:
    for d in range(100):
        sub = tmp_path / "tree" / f"d{d:03}"
        sub.mkdir(parents=True)
        for f in range(500):
            (sub / f"f{f:03}.dat").write_bytes(b"")
    files, diags = resolve_sources(profile(tmp_path, [spec(tmp_path, "tree")]))
    assert diags == ()
    assert len(files) == 50_000
    assert [f.bundle_path for f in files[:2]] == [
        "custom/files/tree/d000/f000.dat",
        "custom/files/tree/d000/f001.dat",
    ]
