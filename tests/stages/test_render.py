from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osbundle.errors import BuildError, InputError
from osbundle.macros import render as macros_render
from osbundle.macros.grammar import RenderError
from osbundle.model import Member, OsSpec, Profile
from osbundle.profile.checks import semantic_diagnostics
from osbundle.profile.load import check_profile
from osbundle.profile.scan import resolve_sources
from osbundle.profile.validate import load_checked_profile
from osbundle.stages.collect import collect
from osbundle.stages.render import render
from tests.factory import make_profile
from tests.origins import collected


def profile_at(
    root: Path, family: Any = "windows", install: dict[str, Any] | None = None
) -> Profile:
    return Profile(
        path=root / "profile.yaml",
        root=root,
        id=f"{family}|p",
        name="p",
        description="d",
        os=OsSpec(family, "2016", "x86_64"),
        install={"locale": "en-US"},
        predefined_unattend=None,
        entries=(),
    )


def member(root: Path, rel: str, data: bytes, kind: Any, bundle_path: str, **kw: Any) -> Member:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    info = path.stat()
    return Member(
        path=bundle_path,
        kind=kind,
        mode=kw.pop("mode", 0o644),
        size=info.st_size,
        source=str(path),
        mtime_ns=info.st_mtime_ns,
        origin=collected(path),
        **kw,
    )


@pytest.fixture
def named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A profile directory as a user names it on the command line: relative to where they are."""
    monkeypatch.chdir(tmp_path)
    return Path("profiles/p")


XML = (
    '<?xml version="1.0"?>\n<u><l>#predefined.otherSettings.installLocale#</l>'
    "<h>#server_settings.server0.host#</h></u>\n"
)


def windows_members(root: Path) -> list[Member]:
    settings = json.dumps({"server0": {"host": "a&b", "port": 1}}).encode()
    return [
        member(root, "drivers/x.inf", b"#not.rendered#", "driver", "drivers/x.inf"),
        member(
            root,
            "custom/s.json",
            settings,
            "settings",
            "custom/settings/s.json",
            name="server_settings",
        ),
        member(
            root,
            "scripts/post.ps1",
            b"echo '#predefined.os.arch#'\r\n",
            "script",
            "custom/scripts/post.ps1",
            mode=0o755,
            rendered=True,
            phase="post",
        ),
        member(
            root,
            "scripts/raw.ps1",
            b"#unknown.macro#",
            "script",
            "custom/scripts/raw.ps1",
            mode=0o755,
            phase="pre",
        ),
        member(
            root,
            "unattend/autounattend.xml",
            XML.encode(),
            "unattend",
            "unattend/autounattend.xml",
            rendered=True,
            name="autounattend",
        ),
    ]


def test_render_replaces_exactly_the_members_to_render(tmp_path: Path) -> None:
    members = windows_members(tmp_path)
    out = render(profile_at(tmp_path), members)
    assert len(out) == len(members)
    for before, after in zip(members, out, strict=True):
        if not before.rendered:
            assert after is before
            continue
        assert after.source is None
        assert after.data is not None
        assert after.size == len(after.data)
        assert after.rendered
        same = ("path", "kind", "mode", "phase", "name")
        assert all(getattr(after, f) == getattr(before, f) for f in same)
    script, unattend = out[2].data, out[4].data
    assert script == b"echo 'x86_64'\r\n"
    assert unattend is not None
    root = ElementTree.fromstring(unattend)
    assert [e.text for e in root] == ["en-US", "a&b"]


def test_render_without_members_to_render_reads_nothing(tmp_path: Path) -> None:
    broken = member(tmp_path, "s.json", b"{broken", "settings", "custom/settings/s.json", name="s")
    plain = member(tmp_path, "a.ps1", b"#x.y#", "script", "custom/scripts/a.ps1")
    assert render(profile_at(tmp_path), [broken, plain]) == (broken, plain)


def test_member_with_data_is_not_rendered_again(tmp_path: Path) -> None:
    done = Member("custom/scripts/a.ps1", "script", 0o755, 5, data=b"#x.y#", rendered=True)
    assert render(profile_at(tmp_path), [done]) == (done,)


def test_settings_errors_name_the_file(named: Path) -> None:
    members = [m for m in windows_members(named) if m.kind != "settings"]
    members.append(
        member(
            named,
            "custom/s.json",
            b'{"a": 1,\n "a": 2}',
            "settings",
            "custom/settings/s.json",
            name="server_settings",
        )
    )
    with pytest.raises(InputError, match=r'^profiles/p/custom/s\.json:2:2: duplicate key "a"$'):
        render(profile_at(named), members)


def test_duplicate_namespaces_are_refused(named: Path) -> None:
    members = windows_members(named)
    members.append(
        member(
            named,
            "other.json",
            b"{}",
            "settings",
            "custom/settings/o.json",
            name="server_settings",
        )
    )
    with pytest.raises(
        InputError,
        match=r"^profiles/p/other\.json: macro namespace 'server_settings' is already used by "
        r"'profiles/p/custom/s\.json'$",
    ):
        render(profile_at(named), members)


def test_unknown_macro_names_file_line_and_column(named: Path) -> None:
    bad = member(
        named,
        "unattend/ks.cfg",
        b"lang en\nkeyboard #predefined.os.archh#\n",
        "unattend",
        "unattend/ks.cfg",
        rendered=True,
        name="ks",
    )
    with pytest.raises(RenderError) as err:
        render(profile_at(named, "rhel"), [bad])
    assert str(err.value) == (
        "profiles/p/unattend/ks.cfg:2:10: macro `predefined.os.archh`: unknown macro "
        "(did you mean #predefined.os.arch#?)"
    )


def test_non_utf8_sources_are_refused(named: Path) -> None:
    bad = member(
        named, "scripts/a.sh", b"echo \xff\n", "script", "custom/scripts/a.sh", rendered=True
    )
    with pytest.raises(RenderError, match=r"^profiles/p/scripts/a\.sh: not UTF-8 text at byte 5"):
        render(profile_at(named, "rhel"), [bad])


def test_sources_over_16_mib_are_refused(named: Path) -> None:
    big = named / "scripts/big.sh"
    big.parent.mkdir(parents=True)
    with big.open("wb") as f:
        f.truncate(16 * 1024 * 1024 + 1)
    info = big.stat()
    m = Member(
        "custom/scripts/big.sh",
        "script",
        0o755,
        info.st_size,
        source=str(big),
        mtime_ns=info.st_mtime_ns,
        rendered=True,
        origin=collected(big),
    )
    with pytest.raises(
        RenderError, match=r"^profiles/p/scripts/big\.sh: files to render are at most 16 MiB"
    ):
        render(profile_at(named, "rhel"), [m])


def test_a_source_changed_since_collection_fails_the_build(tmp_path: Path) -> None:
    m = member(
        tmp_path,
        "scripts/a.sh",
        b"echo #predefined.os.arch#\n",
        "script",
        "custom/scripts/a.sh",
        rendered=True,
    )
    (tmp_path / "scripts/a.sh").write_bytes(b"echo changed and longer\n")
    with pytest.raises(BuildError, match="since the profile was collected"):
        render(profile_at(tmp_path, "rhel"), [m])
    os.utime(tmp_path / "scripts/a.sh", ns=(0, m.mtime_ns + 10**9))
    grown = m._replace(size=(tmp_path / "scripts/a.sh").stat().st_size)
    with pytest.raises(BuildError, match="since the profile was collected"):
        render(profile_at(tmp_path, "rhel"), [grown])


def test_sources_outside_the_profile_are_named_by_absolute_path(tmp_path: Path) -> None:
    base = tmp_path / "base"
    bad = member(base, "a.sh", b"#x.y#", "script", "custom/scripts/a.sh", rendered=True)
    with pytest.raises(RenderError, match="^" + re.escape(f"{base}/a.sh:1:1: macro `x.y`")):
        render(profile_at(tmp_path / "child", "rhel"), [bad])


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.booleans(), max_size=6))
def test_only_marked_members_change(tmp_path: Path, marks: list[bool]) -> None:
    members = [
        member(
            tmp_path,
            f"s{i}.sh",
            f"echo #predefined.profile.name# {i}\n".encode(),
            "script",
            f"custom/scripts/s{i}.sh",
            rendered=mark,
        )
        for i, mark in enumerate(marks)
    ]
    out = render(profile_at(tmp_path, "rhel"), members)
    for i, (before, after) in enumerate(zip(members, out, strict=True)):
        if before.rendered:
            assert after.data == f"echo p {i}\n".encode()
        else:
            assert after is before


def test_render_after_load_and_collect(tmp_path: Path) -> None:
    ks = b"lang #predefined.otherSettings.installLocale#\nnetwork --hostname=#srv.server0.host#\n"
    root = make_profile(
        tmp_path / "p",
        {"unattend/ks.cfg": ks, "settings/srv.json": b'{"server0": {"host": "h1"}}'},
        lists={"unattend": [{"source": "unattend/ks.cfg"}], "settings": ["settings/srv.json"]},
        install={"locale": "en_US"},
    )
    with load_checked_profile(root / "profile.yaml") as checked:
        profile = checked.profile
        collected = collect(list(checked.files))
    out = render(profile, collected)
    by_path = {m.path: m for m in out}
    assert by_path["unattend/ks.cfg"].data == b"lang en_US\nnetwork --hostname=h1\n"
    assert by_path["custom/settings/srv.json"] in collected


def test_render_errors_name_the_profile_as_validate_does(named: Path) -> None:
    """Issue 9, item 14: `profiles/x/unattend/ks.cfg:2:10: ...`, not `unattend/ks.cfg:...`, and
    a base profile's file beside the base, exactly as validate's diagnostics name them."""
    make_profile(
        Path("profiles/base"),
        {"scripts/x.sh": b"echo\necho #s.v#\n", "s.json": b'{"v": "a\\nb"}'},
        lists={"scripts": ["scripts/x.sh"], "settings": ["s.json"]},
    )
    named.mkdir(parents=True)
    (named / "profile.yaml").write_text('extends: ../base\nname: "child"\n')
    report = check_profile(named)
    assert report.profile is not None
    files, _ = resolve_sources(report.profile)
    (diagnostic,) = semantic_diagnostics(report.profile, files, report.locate)  # type: ignore[arg-type]
    with pytest.raises(RenderError) as err:
        render(report.profile, collect(files))
    assert diagnostic.file == err.value.file == "profiles/base/scripts/x.sh"
    assert str(err.value) == (
        "profiles/base/scripts/x.sh:2:6: macro `s.v`: value holds a LF character"
    )


def test_rendered_files_share_one_budget(named: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(macros_render, "MAX_RENDERED_TOTAL", 1000)
    settings = member(
        named, "s.json", json.dumps({"v": "v" * 400}).encode(), "settings", "s", name="s"
    )
    scripts = [
        member(named, f"x{i}.sh", b"#s.v#", "script", f"custom/scripts/x{i}.sh", rendered=True)
        for i in range(3)
    ]
    with pytest.raises(RenderError) as err:
        render(profile_at(named, "rhel"), [settings, *scripts])
    assert str(err.value).startswith(
        "profiles/p/x2.sh:1:1: macro `s.v`: rendered, the profile's files would add up to more "
        "than 1000 bytes (hint: "
    )
    out = render(profile_at(named, "rhel"), [settings, *scripts[:2]])
    assert [m.data for m in out[1:]] == [b"v" * 400] * 2
