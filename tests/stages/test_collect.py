"""The collect stage: resolved files to members sorted by path bytes, with modes, names, flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.kinds import KINDS, Kind
from osbundle.model import EXEC_MODE, FILE_MODE, Member, ResolvedFile, SourceSpec
from osbundle.stages.collect import collect, member_for

BASE = Path("/profiles/p")
ALL_KINDS: tuple[Kind, ...] = get_args(Kind)


def resolved(
    bundle_path: str,
    kind: Kind = "file",
    *,
    executable: bool = False,
    render: bool = False,
    phase: Literal["pre", "post"] | None = None,
    name: str | None = None,
    size: int = 3,
) -> ResolvedFile:
    spec = SourceSpec(kind=kind, source="src", base_dir=BASE, render=render, phase=phase)
    return ResolvedFile(
        spec=spec,
        abs_path=f"/profiles/p/src/{bundle_path}",
        rel_source=f"src/{bundle_path}",
        bundle_path=bundle_path,
        size=size,
        mtime_ns=1234567890123456789,
        executable=executable,
        name=name,
    )


def test_members_are_sorted_by_the_utf8_bytes_of_their_path() -> None:
    # For valid UTF-8 the byte order is the code-point order: upper case before lower case,
    # "-" and "." before "/", no locale or case folding; and U+FF21 before U+10000, which
    # UTF-16 order (Windows, Java) would put the other way round.
    paths = ["b", "B", "a/z", "a-z", "a.z", "é", "z", "Z/a", "\U00010000", "\uff21", "~"]
    members = collect([resolved(p) for p in reversed(paths)])
    assert [m.path for m in members] == sorted(paths, key=str.encode)
    assert [m.path for m in members] == [
        "B", "Z/a", "a-z", "a.z", "a/z", "b", "z", "~", "é", "\uff21", "\U00010000"
    ]  # fmt: skip


@given(st.lists(st.text(min_size=1), max_size=20))
def test_collect_keeps_every_file_once_in_byte_order(paths: list[str]) -> None:
    members = collect([resolved(p) for p in paths])
    assert sorted(m.path for m in members) == sorted(paths)
    keys = [m.path.encode() for m in members]
    assert keys == sorted(keys)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_mode_0644_for_plain_sources_and_0755_for_executables_and_every_script(
    kind: Kind,
) -> None:
    plain, executable = collect([resolved("a", kind), resolved("b", kind, executable=True)])
    assert executable.mode == EXEC_MODE == 0o755
    assert plain.mode == (EXEC_MODE if kind == "script" else FILE_MODE)
    assert KINDS[kind].executable is (kind == "script")


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_rendered_only_for_rendered_kinds_that_ask_for_it(kind: Kind) -> None:
    asked, not_asked = collect(
        [resolved("a", kind, render=True), resolved("b", kind, render=False)]
    )
    assert asked.rendered is KINDS[kind].rendered
    assert asked.rendered is (kind in ("unattend", "script"))
    assert not_asked.rendered is False


def test_named_kinds_carry_their_names() -> None:
    unattend, settings, plain = (
        member_for(resolved("unattend/ks.cfg", "unattend", name="ks")),
        member_for(resolved("custom/settings/s.json", "settings", name="server")),
        member_for(resolved("custom/files/f", "file")),
    )
    assert unattend.name == "ks"
    assert settings.name == "server"
    assert plain.name is None


def test_phase_size_source_and_mtime_come_from_the_resolved_file() -> None:
    member = member_for(resolved("custom/scripts/x.sh", "script", phase="pre", size=77))
    assert member == Member(
        path="custom/scripts/x.sh",
        kind="script",
        mode=EXEC_MODE,
        size=77,
        source="/profiles/p/src/custom/scripts/x.sh",
        data=None,
        mtime_ns=1234567890123456789,
        rendered=False,
        phase="pre",
        name=None,
    )
    assert member_for(resolved("custom/scripts/y.sh", "script", phase="post")).phase == "post"
    assert member_for(resolved("custom/files/f")).phase is None


def test_no_files_no_members() -> None:
    assert collect([]) == ()
