from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Literal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from osbundle import model
from osbundle.bundle.tarread import name_problem
from osbundle.kinds import KINDS, Family, Kind
from osbundle.model import Member, MemberDigest
from osbundle.profile import sources
from osbundle.profile.scan import resolve_sources
from osbundle.profile.sources import collision_key
from osbundle.stages.metadata import inventory_json
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


# --- bundle paths: what the reader refuses, Windows names, file/directory collisions --------


def test_a_dest_component_over_the_reader_limit_is_refused_once(tmp_path: Path) -> None:
    make_files(tmp_path, ["a/x.txt", "a/y.txt"])
    dest = "ok/" + "d" * 256
    files, messages = resolve(tmp_path, spec(tmp_path, "a", dest=dest))
    assert len(files) == 2
    assert len(messages) == 1
    assert messages[0].startswith("dest 'ok/dddd")
    assert "component 'dddd" in messages[0]
    assert "is 256 bytes long (a component may have 255)" in messages[0]
    assert resolve(tmp_path, spec(tmp_path, "a", dest="d" * 255))[1] == []


def test_a_member_name_over_the_reader_limit_is_refused(tmp_path: Path) -> None:
    make_files(tmp_path, ["x.txt"])
    # `p/custom/files/` is 15 bytes, `/x.txt` 6: this dest makes the whole name 4,097 bytes
    dest = "/".join(["d" * 200] * 20) + "/" + "e" * (4097 - 15 - 6 - 20 * 201)
    _, messages = resolve(tmp_path, spec(tmp_path, "x.txt", dest=dest))
    assert len(messages) == 1
    assert (
        "whose name is 4097 bytes long with its top directory (the limit is 4096)" in (messages[0])
    )
    _, messages = resolve(tmp_path, spec(tmp_path, "x.txt", dest=dest[:-1]))
    assert messages == []


@pytest.mark.parametrize("family", ["rhel", "windows"])
def test_bidi_controls_in_a_file_name_are_refused(tmp_path: Path, family: Family) -> None:
    make_files(tmp_path, ["s/invoice\u202efdp.txt", "s/plain.txt"])
    _, messages = resolve(tmp_path, spec(tmp_path, "s/*"), family=family)
    assert len(messages) == 1
    assert "'s/invoice\\u202efdp.txt' lands at" in messages[0]
    assert "bidirectional control character" in messages[0]


def test_windows_names_are_refused(tmp_path: Path) -> None:
    make_files(tmp_path, ["s/nul.txt", "s/COM1.inf", "s/dot.", "s/a:b", "s/ok.txt"])
    _, messages = resolve(tmp_path, spec(tmp_path, "s/*"), family="windows")
    assert [m.split(", whose component ")[0] for m in messages] == [
        "'s/COM1.inf' lands at 'custom/files/COM1.inf'",
        "'s/a:b' lands at 'custom/files/a:b'",
        "'s/dot.' lands at 'custom/files/dot.'",
        "'s/nul.txt' lands at 'custom/files/nul.txt'",
    ]
    assert "reserved device name on Windows" in messages[0]
    assert "':', which Windows does not allow" in messages[1]
    assert "ends with a dot or a space, which Windows strips" in messages[2]
    assert resolve(tmp_path, spec(tmp_path, "s/*"))[1] == []  # other families take them
    _, messages = resolve(tmp_path, spec(tmp_path, "s/ok.txt", dest="x/Aux"), family="windows")
    assert messages == [
        "dest 'x/Aux': component 'Aux' is a reserved device name on Windows "
        "(CON, PRN, AUX, NUL, COM1-9, LPT1-9)"
    ]


def test_windows_paths_over_200_characters_are_refused(tmp_path: Path) -> None:
    make_files(tmp_path, ["x.txt"])
    dest = "d" * (200 - len("p/custom/files//x.txt"))  # the whole name: 200 characters
    assert resolve(tmp_path, spec(tmp_path, "x.txt", dest=dest), family="windows")[1] == []
    _, messages = resolve(tmp_path, spec(tmp_path, "x.txt", dest=dest + "d"), family="windows")
    assert len(messages) == 1
    assert "whose name is 201 characters long with its top directory" in messages[0]
    assert resolve(tmp_path, spec(tmp_path, "x.txt", dest=dest + "d"))[1] == []


def test_a_file_where_another_file_needs_a_directory_collides(tmp_path: Path) -> None:
    make_files(tmp_path, ["a/x", "b/x/y", "c/x/y/z"])
    files, messages = resolve(
        tmp_path, *(spec(tmp_path, f"{d}/*", index=i) for i, d in enumerate("abc"))
    )
    assert len(files) == 3
    assert messages == [
        "'b/x/y' lands at 'custom/files/x/y', which is inside the file 'a/x' from files[0]",
        "'c/x/y/z' lands at 'custom/files/x/y/z', which is inside the file 'a/x' from files[0]",
    ]
    # the other way round: the directory first, then the file
    _, messages = resolve(tmp_path, spec(tmp_path, "b/*"), spec(tmp_path, "a/*", index=1))
    assert messages == [
        "'a/x' lands at 'custom/files/x', which is also a directory, holding 'b/x/y' from files[0]"
    ]


def test_file_and_directory_collide_as_windows_compares_names(tmp_path: Path) -> None:
    make_files(tmp_path, ["a/X", "b/x/y", "c/e\u0301./f", "d/\u00c9"])
    specs = [spec(tmp_path, f"{d}/*", index=i) for i, d in enumerate("abcd")]
    assert resolve(tmp_path, *specs)[1] == []
    _, messages = resolve(tmp_path, *specs, family="windows")
    assert messages == [
        "'c/e\u0301./f' lands at 'custom/files/e\u0301./f', whose component 'e\u0301.' ends "
        "with a dot or a space, which Windows strips",
        "'b/x/y' lands at 'custom/files/x/y', which is inside (ignoring case) the file 'a/X' "
        "from files[0]",
        "'d/\u00c9' lands at 'custom/files/\u00c9', which is also a directory (as Windows "
        "compares names, trailing dots and spaces stripped), holding 'c/e\u0301./f' from "
        "files[2]",
    ]


def test_names_equal_once_windows_strips_trailing_dots_collide(tmp_path: Path) -> None:
    make_files(tmp_path, ["a/name", "b/name.", "c/NAME "])
    specs = [spec(tmp_path, f"{d}/*", index=i) for i, d in enumerate("abc")]
    _, messages = resolve(tmp_path, *specs, family="windows")
    collisions = [m for m in messages if "collides" in m]
    assert collisions == [
        "'b/name.' lands at 'custom/files/name.', which collides (as Windows compares names, "
        "trailing dots and spaces stripped) with 'a/name' from files[0]",
        "'c/NAME ' lands at 'custom/files/NAME ', which collides (as Windows compares names, "
        "trailing dots and spaces stripped) with 'a/name' from files[0]",
    ]


DEST_PART = st.one_of(
    st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_.-]{100,255}", fullmatch=True),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=6),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=50, max_size=130),
    st.sampled_from(["d" * 255, "\u00e9" * 128, "con", "x.", "a\u2066b", "tab\t"]),
)
FILE_PART = st.one_of(
    st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="/\x00"),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from(["f" * 255, "\u00e9" * 127, "nul.txt", "end ", "x\u202e", "C:"]),
).filter(lambda p: p not in (".", "..") and len(p.encode()) <= 255)


@settings(max_examples=60, deadline=None)
@given(
    dest=st.lists(DEST_PART, max_size=20).map("/".join),
    name=FILE_PART,
    family=st.sampled_from(["rhel", "windows"]),
)
@example(dest="/".join(["d" * 255] * 15), name="f" * 242, family="rhel")
@example(dest="/".join(["d" * 255] * 15), name="f" * 241, family="rhel")
def test_every_bundle_path_validate_accepts_the_reader_accepts(
    dest: str, name: str, family: Family
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        try:
            (root / "src" / name).write_bytes(b"")
        except (OSError, ValueError):
            return  # not a name this file system holds
        files, diags = resolve_sources(profile(root, [spec(root, "src/*", dest=dest)], family))
        assert len(files) == 1 or (not files and diags)  # a dest split_relative refuses
        if not files:
            return
        if not diags:
            assert name_problem(f"p/{files[0].bundle_path}") is None
        elif len(f"p/{files[0].bundle_path}".encode()) == 4096:
            raise AssertionError(diags)  # the limit itself is a name the reader takes


# --- what a reader takes of a whole bundle: members, metadata.json ---------------------------


def test_more_members_than_a_reader_takes_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model, "MAX_MEMBERS", 5)  # 3 files and the two trailers
    make_files(tmp_path, ["a/1", "a/2", "a/3", "b/4"])
    _, messages = resolve(tmp_path, spec(tmp_path, "a"))
    assert messages == []
    _, messages = resolve(tmp_path, spec(tmp_path, "a"), spec(tmp_path, "b", index=1))
    assert messages == [
        "the bundle would hold 6 members with its trailers (a bundle reader takes 5)"
    ]


def test_a_metadata_json_larger_than_a_reader_takes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_files(tmp_path, [f"a/{'n' * 200}{i}" for i in range(3)])
    # the fixed share, then three items of at most 256 bytes beside their 216-byte paths
    monkeypatch.setattr(sources, "_PROFILE_BYTES", 0)
    fixed = 6 * len(repr(("a|b", "p", "", "1", "x86_64", [])))  # the profile's own text
    monkeypatch.setattr(model, "MAX_METADATA_BYTES", fixed + 3 * (256 + 216))
    files, diags = resolve_sources(profile(tmp_path, [spec(tmp_path, "a")]))
    assert {len(f.bundle_path) for f in files} == {216}
    assert diags == ()
    monkeypatch.setattr(model, "MAX_METADATA_BYTES", fixed + 3 * (256 + 216) - 1)
    _, diags = resolve_sources(profile(tmp_path, [spec(tmp_path, "a")]))
    assert [(d.path, d.message) for d in diags] == [
        (("files", 0), "the bundle's metadata.json would exceed the 0 MiB a bundle reader takes")
    ]


JSON_TEXT = st.text(st.characters(exclude_categories=["Cs", "Cc"]), max_size=30)


@given(
    path=JSON_TEXT,
    name=st.none() | JSON_TEXT,
    kind=st.sampled_from(sorted(KINDS)),
    phase=st.sampled_from([None, "pre", "post"]),
    rendered=st.booleans(),
    size=st.integers(0, 10**20 - 1),
)
def test_an_inventory_item_stays_within_the_bound(
    path: str,
    name: str | None,
    kind: Kind,
    phase: Literal["pre", "post"] | None,
    rendered: bool,
    size: int,
) -> None:
    member = Member(path, kind, 0o755, size, data=b"", rendered=rendered, phase=phase, name=name)
    digest = MemberDigest(f"p/{path}", size, "0" * 64, "0" * 32)
    item = len(inventory_json(member, digest).encode()) + 1  # and its comma
    bound = sources._ITEM_BYTES + sources._json_bytes(path) + sources._json_bytes(name or "")
    assert item <= bound
