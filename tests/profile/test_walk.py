"""`profile/walk.py`: split_relative, name_problem, the Walker over paths, globs and links."""

from __future__ import annotations

import os
import posixpath
import stat
import tempfile
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from osbundle.model import Folder, SourceId
from osbundle.profile.scan import resolve_sources
from osbundle.profile.walk import (
    MAX_DEPTH,
    Match,
    Walker,
    literal_pattern,
    name_problem,
    split_relative,
)
from tests.profile.helpers import make_files, matches_by_source, profile, resolve, spec


def walked(base: Path | str, source: str) -> Walker:
    """A Walker over `base` that has expanded `source`."""
    parts, problem = split_relative(source, "source")
    assert problem is None
    with Walker.at(str(base)) as walker:
        walker.expand(parts)
    return walker


def walk(base: Path | str, source: str) -> tuple[dict[str, str], list[str]]:
    """What `source` matches below `base`: {path relative to base: path below the static
    prefix}, and the problems (sorted: directories are read in the file system's order)."""
    walker = walked(base, source)
    return {k: m.rel for k, m in sorted(matches_by_source(walker).items())}, sorted(walker.problems)


def test_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_files(root, ["real/a.txt"])
    make_files(tmp_path, ["outside/secret.txt"])
    (root / "inside.txt").symlink_to("real/a.txt")
    (root / "linkdir").symlink_to("real")
    (root / "escape.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    (root / "escapedir").symlink_to("../outside")
    (root / "real" / "loop").symlink_to("..")
    (root / "dangling").symlink_to("nowhere")
    assert resolve(root, spec(root, "inside.txt")) == (["custom/files/inside.txt"], [])
    assert resolve(root, spec(root, "linkdir")) == (
        ["custom/files/linkdir/a.txt"],
        ["'linkdir/loop' is the profile directory itself"],
    )
    (root / "real" / "loop").unlink()
    (root / "real" / "loop").symlink_to(".")
    assert resolve(root, spec(root, "linkdir"))[1] == ["'linkdir/loop' is a symlink loop"]
    assert "outside" in resolve(root, spec(root, "escape.txt"))[1][0]
    assert "outside" in resolve(root, spec(root, "escapedir/*"))[1][0]
    assert "outside" in resolve(root, spec(root, "escapedir"))[1][0]
    assert "broken symlink" in resolve(root, spec(root, "dangling"))[1][0]
    files, messages = resolve(root, spec(root, "real"))
    assert files == ["custom/files/real/a.txt"]
    assert messages == ["'real/loop' is a symlink loop"]
    everything = resolve(root, spec(root, "**"))
    assert "custom/files/inside.txt" in everything[0]
    assert not any("secret" in p for p in everything[0])
    assert any("escape.txt" in m for m in everything[1])


def test_non_regular_files_are_refused_without_opening(tmp_path: Path) -> None:
    make_files(tmp_path, ["d/ok.txt"])
    os.mkfifo(tmp_path / "d" / "pipe")
    files, messages = resolve(tmp_path, spec(tmp_path, "d"))
    assert files == ["custom/files/d/ok.txt"]
    assert messages == ["'d/pipe' is not a regular file or directory"]
    assert resolve(tmp_path, spec(tmp_path, "d/pipe"))[1] == [
        "'d/pipe' is not a regular file or directory"
    ]


def test_bad_file_names(tmp_path: Path) -> None:
    make_files(tmp_path, ["d/ok.txt"])
    (tmp_path / "d" / "bad\x01name").write_bytes(b"")
    os.close(os.open(os.fsencode(tmp_path / "d") + b"/latin\xe9", os.O_CREAT | os.O_WRONLY))
    files, messages = resolve(tmp_path, spec(tmp_path, "d"))
    assert files == ["custom/files/d/ok.txt"]
    assert sorted(messages) == [
        "file name 'bad\\x01name' contains a control character",
        "file name 'latin\\udce9' is not valid UTF-8",
    ]


# --- split_relative and name_problem -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("./a//b/./c/", ["a", "b", "c"]),
        (".", []),
        ("", []),
        ("a/.../b..", ["a", "...", "b.."]),  # only a whole `..` component is refused
        ("caf\u00e9/*.txt", ["caf\u00e9", "*.txt"]),
    ],
)
def test_split_relative_drops_empty_and_dot_parts(text: str, parts: list[str]) -> None:
    assert split_relative(text, "source") == (parts, None)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a\\b", "dest 'a\\\\b' contains a backslash (use '/')"),
        ("/a\\b", "dest '/a\\\\b' contains a backslash (use '/')"),
        (
            "/etc/passwd",
            "dest '/etc/passwd' is absolute (it must be relative to the profile directory)",
        ),
        ("a\x85b", "dest 'a\\x85b' contains a control character"),
        ("a/\x7f", "dest 'a/\\x7f' contains a control character"),
        (
            "a/./../b",
            "dest 'a/./../b' has a '..' component (it must stay inside the profile directory)",
        ),
        ("..", "dest '..' has a '..' component (it must stay inside the profile directory)"),
    ],
)
def test_split_relative_problems(text: str, problem: str) -> None:
    assert split_relative(text, "dest") == ([], problem)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "é", "/", ".", "..", "\\", "\t", "\x9f", "*"]), max_size=12).map(
        "".join
    )
)
def test_split_relative_never_returns_a_part_that_climbs_or_is_empty(text: str) -> None:
    parts, problem = split_relative(text, "source")
    if problem is not None:
        assert parts == []
        assert problem.startswith(f"source {text!r} ")
        return
    assert not any(p in ("", ".", "..") or "/" in p or "\\" in p for p in parts)
    assert "/".join(parts) == (posixpath.normpath(text) if parts else "")
    assert not text.startswith("/")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("plain.txt", None),
        ("caf\u00e9 \u2603.txt", None),
        ("a\tb", "file name 'a\\tb' contains a control character"),
        ("x\x7f", "file name 'x\\x7f' contains a control character"),
        ("a\x85b", "file name 'a\\x85b' contains a control character"),
        ("latin\udce9", "file name 'latin\\udce9' is not valid UTF-8"),
    ],
)
def test_name_problem(name: str, problem: str | None) -> None:
    assert name_problem(name) == problem


def test_literal_pattern_escapes_the_glob_characters() -> None:
    assert literal_pattern("a[1]*b?.txt") == "a[[]1][*]b[?].txt"
    assert literal_pattern("plain/dir-name.txt") == "plain/dir-name.txt"


@given(st.text(st.sampled_from("ab*?[]!-"), min_size=1, max_size=6), st.text("ab*?[]!-"))
def test_literal_pattern_matches_its_text_and_nothing_else(name: str, other: str) -> None:
    assert fnmatchcase(name, literal_pattern(name))
    assert fnmatchcase(other, literal_pattern(name)) == (other == name)


# --- literal paths and directories ---------------------------------------------------------


def test_a_literal_file_is_one_match_with_the_stat_it_had(tmp_path: Path) -> None:
    make_files(tmp_path, ["a/b/c.sh"], mode=0o750)
    walker = walked(tmp_path, "a/b/c.sh")
    st_ = os.stat(tmp_path / "a" / "b" / "c.sh")
    assert walker.problems == []
    assert list(matches_by_source(walker)) == ["a/b/c.sh"]
    match = matches_by_source(walker)["a/b/c.sh"]
    assert match == Match(
        str(tmp_path / "a" / "b" / "c.sh"), "a/b/c.sh", "c.sh", st_.st_mode, match.origin
    )
    origin = match.origin
    assert origin == SourceId(
        origin.folder,
        "c.sh",
        st_.st_dev,
        st_.st_ino,
        st_.st_size,
        st_.st_mtime_ns,
        st_.st_ctime_ns,
    )
    folders = []
    folder: Folder | None = origin.folder
    while folder is not None:
        folders.append((folder.root, folder.rel, folder.dev, folder.ino))
        folder = folder.parent
    real = os.path.realpath(tmp_path)
    assert folders == [
        (real, rel, os.stat(tmp_path / rel).st_dev, os.stat(tmp_path / rel).st_ino)
        for rel in ["a/b", "a", ""]
    ]


def test_what_is_not_there_is_no_match_and_no_problem(tmp_path: Path) -> None:
    make_files(tmp_path, ["f.txt"])
    for source in ["nope.txt", "a/nope/x.txt", "f.txt/x", "missing/*", "f.txt/*", "*.nothing"]:
        assert walk(tmp_path, source) == ({}, []), source


def test_a_directory_keeps_its_own_name(tmp_path: Path) -> None:
    make_files(tmp_path, ["a/b/c.txt", "a/b/d/e.txt", "a/x.txt"])
    assert walk(tmp_path, "a/b") == ({"a/b/c.txt": "b/c.txt", "a/b/d/e.txt": "b/d/e.txt"}, [])


def test_a_literal_through_a_link_to_outside_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "p"
    make_files(tmp_path, ["outside/secret.txt"])
    base.mkdir()
    (base / "out").symlink_to("../outside")
    assert walk(base, "out/secret.txt") == (
        {},
        ["'out/secret.txt' is a symlink to outside the profile directory"],
    )
    assert walk(base, "out/*") == ({}, ["'out' resolves outside the profile directory"])


def test_the_profile_directory_itself_through_a_link(tmp_path: Path) -> None:
    make_files(tmp_path, ["a.txt"])
    (tmp_path / "self").symlink_to(".")
    assert walk(tmp_path, "self") == ({}, ["'self' is the profile directory itself"])
    assert walk(tmp_path, "**") == ({"a.txt": "a.txt"}, ["'self' is the profile directory itself"])


def test_a_link_to_itself_is_reported_not_followed(tmp_path: Path) -> None:
    (tmp_path / "self").symlink_to("self")
    assert walk(tmp_path, "self") == ({}, ["'self' is a broken symlink"])
    assert walk(tmp_path, "*") == ({}, ["'self' is a broken symlink"])


def test_a_link_to_a_fifo_is_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "link").symlink_to("pipe")
    assert walk(tmp_path, "link") == ({}, ["'link' is not a regular file or directory"])


# --- globs and ** -------------------------------------------------------------------------


def test_wildcards_match_dot_names_and_are_case_sensitive(tmp_path: Path) -> None:
    make_files(tmp_path, [".env", "a.txt", "A.TXT", "b.txt", "ab.txt"])
    assert list(walk(tmp_path, "*")[0]) == [".env", "A.TXT", "a.txt", "ab.txt", "b.txt"]
    assert list(walk(tmp_path, "*.txt")[0]) == ["a.txt", "ab.txt", "b.txt"]
    assert list(walk(tmp_path, "?.txt")[0]) == ["a.txt", "b.txt"]
    assert list(walk(tmp_path, "[aA].*")[0]) == ["A.TXT", "a.txt"]
    assert list(walk(tmp_path, ".e*")[0]) == [".env"]


def test_a_glob_is_relative_to_the_last_directory_before_its_first_wildcard(
    tmp_path: Path,
) -> None:
    make_files(tmp_path, ["a/b/c/x.txt", "a/b/y/x.txt"])
    assert walk(tmp_path, "a/b/*/x.txt") == (
        {"a/b/c/x.txt": "c/x.txt", "a/b/y/x.txt": "y/x.txt"},
        [],
    )
    assert walk(tmp_path, "a/*/c/x.txt") == ({"a/b/c/x.txt": "b/c/x.txt"}, [])


def test_a_glob_that_matches_a_directory_takes_every_file_below_it(tmp_path: Path) -> None:
    make_files(tmp_path, ["top/d1/a.txt", "top/d1/deep/b.txt", "top/f.txt"])
    assert walk(tmp_path, "top/d*") == (
        {"top/d1/a.txt": "d1/a.txt", "top/d1/deep/b.txt": "d1/deep/b.txt"},
        [],
    )


def test_a_literal_part_after_a_wildcard(tmp_path: Path) -> None:
    base = tmp_path / "p"
    make_files(base, ["a/sub/x.txt", "b/sub/x.txt", "c/sub", "d/other/x.txt"])
    make_files(tmp_path, ["outside/x.txt"])
    assert walk(base, "*/sub/x.txt") == (
        {"a/sub/x.txt": "a/sub/x.txt", "b/sub/x.txt": "b/sub/x.txt"},
        [],
    )
    (base / "d" / "sub").symlink_to("../../outside")
    assert walk(base, "*/sub/x.txt")[1] == ["'d/sub' resolves outside the profile directory"]


def test_double_star_matches_any_depth_including_none(tmp_path: Path) -> None:
    make_files(tmp_path, ["x.txt", "a/x.txt", "a/b/x.txt", "a/b/y.txt", "c/d/e/x.txt"])
    every = {n: n for n in ["a/b/x.txt", "a/b/y.txt", "a/x.txt", "c/d/e/x.txt", "x.txt"]}
    assert walk(tmp_path, "**") == (every, [])
    xs = {k: v for k, v in every.items() if k.endswith("x.txt")}
    assert walk(tmp_path, "**/x.txt") == (xs, [])
    assert walk(tmp_path, "**/**/x.txt") == (xs, [])
    assert walk(tmp_path, "a/**/x.txt") == ({"a/b/x.txt": "b/x.txt", "a/x.txt": "x.txt"}, [])
    assert walk(tmp_path, "a/**") == (
        {"a/b/x.txt": "b/x.txt", "a/b/y.txt": "b/y.txt", "a/x.txt": "x.txt"},
        [],
    )
    assert walk(tmp_path, "**/d") == ({"c/d/e/x.txt": "c/d/e/x.txt"}, [])


def test_links_met_by_a_glob(tmp_path: Path) -> None:
    base = tmp_path / "p"
    make_files(base, ["real/a.txt"])
    make_files(tmp_path, ["outside/secret.txt"])
    (base / "to-file.txt").symlink_to("real/a.txt")
    (base / "to-dir").symlink_to("real")
    found, problems = walk(base, "*")
    assert found == {
        "real/a.txt": "real/a.txt",
        "to-dir/a.txt": "to-dir/a.txt",
        "to-file.txt": "to-file.txt",
    }
    assert problems == []
    assert matches_by_source(walked(base, "to-*"))["to-file.txt"].abs_path == str(
        base / "to-file.txt"
    )
    (base / "real" / "up").symlink_to("..")
    (base / "secret").symlink_to(tmp_path / "outside" / "secret.txt")
    found, problems = walk(base, "**/a.txt")
    assert found == {"real/a.txt": "real/a.txt", "to-dir/a.txt": "to-dir/a.txt"}
    assert problems == [
        "'real/up' is the profile directory itself",
        "'to-dir/up' is the profile directory itself",
    ]
    (base / "real" / "up").unlink()
    (base / "real" / "up").symlink_to(".")
    assert walk(base, "real/**")[1] == ["'real/up' is a symlink loop"]
    assert walk(base, "s*") == ({}, ["'secret' is a symlink to outside the profile directory"])


def test_non_regular_entries_met_by_a_glob(tmp_path: Path) -> None:
    make_files(tmp_path, ["ok.txt"])
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "bad\x01").write_bytes(b"")
    assert walk(tmp_path, "*") == (
        {"ok.txt": "ok.txt"},
        [
            "'pipe' is not a regular file or directory",
            "file name 'bad\\x01' contains a control character",
        ],
    )
    assert walk(tmp_path, "p*/x") == ({}, [])  # a FIFO is no directory to look into


def test_an_unreadable_directory_is_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_files(tmp_path, ["d/x.txt", "e/y.txt"])
    real_scandir = os.scandir
    refused = {os.stat(tmp_path / "d").st_ino, os.stat(tmp_path).st_ino}

    def scandir(fd: int) -> Iterator[os.DirEntry[str]]:  # the walk lists descriptors
        if os.fstat(fd).st_ino in refused:
            raise PermissionError(13, "Permission denied")
        return real_scandir(fd)

    monkeypatch.setattr(os, "scandir", scandir)  # what walk.py calls
    assert walk(tmp_path, "d") == ({}, ["cannot read directory 'd': Permission denied"])
    assert walk(tmp_path, "e/*") == ({"e/y.txt": "y.txt"}, [])
    assert walk(tmp_path, "**") == ({}, ["cannot read directory '.': Permission denied"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_a_directory_without_read_permission_is_a_problem(tmp_path: Path) -> None:
    make_files(tmp_path, ["d/x.txt"])
    (tmp_path / "d").chmod(0o300)
    try:
        found, problems = walk(tmp_path, "d")
    finally:
        (tmp_path / "d").chmod(0o700)
    assert (found, problems) == ({}, ["cannot read directory 'd': Permission denied"])


def test_plain_directories_are_walked_by_descriptor_not_by_real_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a symlink is resolved by path (then re-opened from the root); a plain directory is
    opened from its parent's descriptor. (This replaces a test of the real-path cache the walk
    shared between the entries of a profile: a path string trusted once seen, which is the
    design issue #9 item 5 removes.)"""
    make_files(tmp_path, ["d/e/x.txt"])

    def no_realpath(path: str) -> str:
        raise AssertionError(f"realpath({path!r})")

    with Walker.at(str(tmp_path)) as walker:
        monkeypatch.setattr(os.path, "realpath", no_realpath)
        walker.expand(["d", "**"])
    assert list(matches_by_source(walker)) == ["d/e/x.txt"]
    assert matches_by_source(walker)["d/e/x.txt"].origin.folder.rel == "d/e"


# --- properties ----------------------------------------------------------------------------

SEGMENTS = st.sampled_from(["a", "b", ".h", "x.txt"])
PATHS = st.lists(SEGMENTS, min_size=1, max_size=3).map("/".join)
TARGETS = st.sampled_from(
    [".", "..", "../..", "../../..", "a", "a/b", "x.txt", "a/x.txt", "OUT", "OUT/secret.txt",
     "OUT/a", "../outside/a/x.txt", "nowhere", "SELF"]
)  # fmt: skip
NODES = st.lists(
    st.one_of(
        st.tuples(st.just("dir"), PATHS, st.just("")),
        st.tuples(st.just("file"), PATHS, st.just("")),
        st.tuples(st.just("link"), PATHS, TARGETS),
    ),
    max_size=14,
)
SOURCES = ["**", "*", "*/*", "**/x.txt", "a", "a/**", "a/*/x.txt", "x.txt", "a/b", "*/b/*", "**/b"]


def _draw_tree(base: Path, outside: Path, nodes: list[tuple[str, str, str]]) -> None:
    for kind, rel, target in nodes:
        path = base / rel
        ancestors = [p for p in path.parents if base in p.parents]
        if os.path.lexists(path) or any(
            os.path.lexists(p) and (p.is_symlink() or not p.is_dir()) for p in ancestors
        ):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "dir":
            path.mkdir()
        elif kind == "file":
            path.write_bytes(rel.encode())
        else:
            text = {"OUT": str(outside), "OUT/secret.txt": str(outside / "secret.txt")}.get(
                target, path.name if target == "SELF" else target
            )
            path.symlink_to(text)


@settings(max_examples=150, deadline=None)
@given(NODES)
@example([("link", "x.txt", "OUT/secret.txt")])
@example([("link", "a", "OUT"), ("link", "b", "a/x.txt")])
@example([("dir", "a/b", ""), ("link", "a/b/x.txt", "../../.."), ("link", "b", "../outside")])
def test_no_match_resolves_outside_the_base_whatever_links_are_drawn(
    nodes: list[tuple[str, str, str]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base, outside = Path(tmp) / "p", Path(tmp) / "outside"
        base.mkdir()
        make_files(outside, ["secret.txt", "a/x.txt", "a/b/x.txt"])
        _draw_tree(base, outside, nodes)
        base_real = os.path.realpath(base)
        for source in SOURCES:
            walker = walked(base, source)
            for rel_source, match in matches_by_source(walker).items():
                real = os.path.realpath(match.abs_path)
                assert real == base_real or real.startswith(base_real + os.sep), (source, real)
                assert stat.S_ISREG(os.stat(match.abs_path).st_mode)
                assert match.rel_source == rel_source
                assert match.abs_path == os.path.join(base, rel_source)
                assert not any(p in ("", ".", "..") for p in rel_source.split("/"))
                assert rel_source == match.rel or rel_source.endswith("/" + match.rel)
                assert match.size == os.stat(match.abs_path).st_size


@settings(max_examples=60, deadline=None)
@given(st.sets(PATHS, min_size=1, max_size=10), st.sampled_from(["a", "b", ".h", "x.txt"]))
def test_without_links_every_regular_file_is_found_once(names: set[str], last: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name in sorted(names):
            path = base / name
            if os.path.lexists(path) or any(p.is_file() for p in path.parents):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
        on_disk = sorted(
            os.path.relpath(os.path.join(root, f), base)
            for root, _, files in os.walk(base)
            for f in files
        )
        assert walk(base, "**") == ({n: n for n in on_disk}, [])
        named = {n: n for n in on_disk if last in n.split("/")}  # a file, or a directory's
        assert walk(base, f"**/{last}") == (named, [])
        below_a = {n: n for n in on_disk if n == "a" or n.startswith("a/")}
        assert walk(base, "a") == (below_a, [])


# --- links met one level below a prefix, and loops through plain parents (issue #9 notes) ----


def test_a_glob_below_a_prefix_does_not_pass_through_a_link_to_the_profile_directory(
    tmp_path: Path,
) -> None:
    """`a/*/x.txt` with `a/up -> ..`: the glob used to walk the whole profile again through
    `up` (shipping `a/up/x.txt`, the root's x.txt) where `**` calls the same link a problem."""
    make_files(tmp_path, ["x.txt", "a/b/x.txt"])
    (tmp_path / "a" / "up").symlink_to("..")
    assert resolve(tmp_path, spec(tmp_path, "a/*/x.txt")) == (
        ["custom/files/b/x.txt"],
        ["'a/up' is the profile directory itself"],
    )
    assert resolve(tmp_path, spec(tmp_path, "a/*/*")) == (
        ["custom/files/b/x.txt"],
        ["'a/up' is the profile directory itself"],
    )


def test_a_link_to_a_plain_parent_directory_is_a_loop_where_it_is_met(tmp_path: Path) -> None:
    """`top/a/b/up -> ..` (top/a, walked as a plain directory): the loop is reported at `up`,
    not one level later after every file below `top/a` was taken a second time through it."""
    make_files(tmp_path, ["top/a/b/f.txt", "top/a/g.txt"])
    (tmp_path / "top" / "a" / "b" / "up").symlink_to("..")
    assert resolve(tmp_path, spec(tmp_path, "top")) == (
        ["custom/files/top/a/b/f.txt", "custom/files/top/a/g.txt"],
        ["'top/a/b/up' is a symlink loop"],
    )
    assert resolve(tmp_path, spec(tmp_path, "top/**/f.txt")) == (
        ["custom/files/a/b/f.txt"],
        ["'top/a/b/up' is a symlink loop"],
    )


def test_a_link_to_a_directory_holding_the_walk_is_a_loop(tmp_path: Path) -> None:
    make_files(tmp_path, ["top/a/b/f.txt"])
    (tmp_path / "top" / "a" / "b" / "up2").symlink_to("../..")
    assert resolve(tmp_path, spec(tmp_path, "top/a")) == (
        ["custom/files/a/b/f.txt"],
        ["'top/a/b/up2' is a symlink loop"],
    )


def test_a_deep_tree_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * (MAX_DEPTH + 5))
    deep.mkdir(parents=True)
    (deep / "f.txt").write_bytes(b"")
    found, problems = walk(tmp_path, "d")
    assert found == {}
    assert len(problems) == 1
    assert problems[0].endswith(f"is nested more than {MAX_DEPTH} directories deep")


def test_every_descriptor_the_walk_opens_is_closed(tmp_path: Path) -> None:
    make_files(tmp_path, ["a/b/c.txt", "a/d/e.txt", "x/y.txt"])
    (tmp_path / "l").symlink_to("a")
    (tmp_path / "a" / "b" / "up").symlink_to("..")
    before = set(os.listdir("/proc/self/fd"))
    for source in ["**", "a", "l/*/c.txt", "*/b/*", "a/b/c.txt", "nope/*"]:
        walk(tmp_path, source)
    assert set(os.listdir("/proc/self/fd")) == before


def test_the_entries_of_one_profile_share_each_directory_s_folder(tmp_path: Path) -> None:
    """One Folder object per directory for a whole profile: the readers' cache is keyed by it,
    so a profile listing 1,000 files of one directory opens that directory once."""
    make_files(tmp_path, ["d/a.txt", "d/b.txt", "d/e/c.txt"])
    (tmp_path / "l.txt").symlink_to("d/b.txt")
    files, diagnostics = resolve_sources(
        profile(tmp_path, [spec(tmp_path, s, index=i) for i, s in enumerate(SHARED)])
    )
    assert diagnostics == ()
    by_source = {f.rel_source: f.origin for f in files}
    assert sorted(by_source) == ["d/a.txt", "d/b.txt", "d/e/c.txt", "l.txt"]
    folders = {s: o.folder for s, o in by_source.items() if o is not None}
    assert folders["d/a.txt"] is folders["d/b.txt"] is folders["l.txt"]
    assert folders["d/e/c.txt"].parent is folders["d/a.txt"]


SHARED = ["d/a.txt", "d/b.txt", "d/e", "l.txt"]
