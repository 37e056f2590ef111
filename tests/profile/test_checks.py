"""`profile/checks.py`: unattend names, settings namespaces and files, and macro uses, located."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.diagnostics import Diagnostic
from osbundle.errors import ProfileInvalid
from osbundle.kinds import Family, render_format
from osbundle.macros import render as macros_render
from osbundle.macros.grammar import RenderError
from osbundle.macros.render import render_text
from osbundle.macros.settings import macro_table
from osbundle.model import Position, Profile, ResolvedFile, SourceSpec
from osbundle.profile.checks import semantic_diagnostics, settings_file, shown_path
from osbundle.profile.load import Locate, check_profile
from osbundle.profile.scan import resolve_sources
from osbundle.profile.validate import load_checked_profile
from tests.factory import make_profile

MIB16 = 16 * 1024 * 1024
NAMESPACE_HINT = (
    "set `namespace:` to letters, digits, _ or -, starting with a letter or _, and not `predefined`"
)
NOT_UTF8_HINT = "save it as UTF-8, or set `render: false` to ship it unchanged"


def loaded(
    root: Path, display: str = "profile.yaml"
) -> tuple[Profile, tuple[ResolvedFile, ...], Locate]:
    """The profile at `root` (its files shown as `display`), what it matches, its locator."""
    report = check_profile(root / "profile.yaml", display)
    assert report.profile is not None, report.diagnostics
    assert report.locate is not None
    files, _ = resolve_sources(report.profile)
    return report.profile, files, report.locate


def semantic(root: Path, display: str = "profile.yaml") -> list[Diagnostic]:
    return semantic_diagnostics(*loaded(root, display))


def at(root: Path, text: str) -> tuple[int, int]:
    """Line and column of the first `text` in root/profile.yaml."""
    for number, line in enumerate((root / "profile.yaml").read_text().splitlines(), 1):
        if text in line:
            return number, line.index(text) + 1
    raise AssertionError(f"{text!r} is not in the profile")


def fields(d: Diagnostic) -> tuple[object, ...]:
    return (d.file, d.line, d.col, d.path, d.message, d.hint)


# --- unattend names -----------------------------------------------------------------------


def test_unattend_names_are_unique_across_entries(tmp_path: Path) -> None:
    make_profile(
        tmp_path,
        {"unattend/a.cfg": b"", "unattend/b.cfg": b"", "unattend/c.cfg": b""},
        lists={
            "unattend": [
                {"source": "unattend/a.cfg", "name": "ks"},
                {"source": "unattend/b.cfg", "name": "ks"},
                "unattend/c.cfg",
            ]
        },
    )
    (diag,) = semantic(tmp_path)
    assert fields(diag) == (
        "profile.yaml",
        *at(tmp_path, '"unattend/b.cfg"'),
        ("unattend", 1, "source"),
        "unattend name 'ks' is already used by 'unattend/a.cfg'",
        None,
    )


def test_install_unattend_names_one_of_the_unattend_entries(tmp_path: Path) -> None:
    files = {"unattend/a.cfg": b"", "unattend/b.ks": b""}
    lists: dict[str, list[object]] = {"unattend": ["unattend/b.ks", "unattend/a.cfg"]}
    make_profile(tmp_path, files, lists=lists, install={"unattend": "kickstart"})
    (diag,) = semantic(tmp_path)
    assert fields(diag) == (
        "profile.yaml",
        *at(tmp_path, '"kickstart"'),
        ("install", "unattend"),
        "no unattend entry is named 'kickstart'",
        "unattend names: a, b",
    )
    make_profile(tmp_path, files, lists=lists, install={"unattend": "b"})
    assert semantic(tmp_path) == []


def test_install_unattend_without_any_unattend_file(tmp_path: Path) -> None:
    make_profile(tmp_path, {"x.txt": b""}, install={"unattend": "ks"})
    (diag,) = semantic(tmp_path)
    assert (diag.message, diag.hint) == ("no unattend entry is named 'ks'", "unattend names: none")


# --- settings namespaces and files ----------------------------------------------------------


def test_a_default_namespace_must_be_a_namespace(tmp_path: Path) -> None:
    make_profile(
        tmp_path,
        {
            "settings/9lives.json": b"{}",
            "settings/predefined.json": b"{}",
            "settings/ok.json": b"{}",
        },
        lists={
            "settings": ["settings/9lives.json", "settings/predefined.json", "settings/ok.json"]
        },
    )
    assert [fields(d) for d in semantic(tmp_path)] == [
        (
            "profile.yaml",
            *at(tmp_path, '"settings/9lives.json"'),
            ("settings", 0),
            "'9lives' cannot be a macro namespace",
            NAMESPACE_HINT,
        ),
        (
            "profile.yaml",
            *at(tmp_path, '"settings/predefined.json"'),
            ("settings", 1),
            "'predefined' cannot be a macro namespace",
            NAMESPACE_HINT,
        ),
    ]


def test_namespaces_are_unique_across_entries_and_within_one(tmp_path: Path) -> None:
    make_profile(
        tmp_path,
        {
            "settings/site.json": b"{}",
            "more/site.json": b"{}",
            "g/x/n.json": b"{}",
            "g/y/n.json": b"{}",
        },
        lists={
            "settings": [
                {"source": "settings/site.json"},
                {"source": "more/site.json"},
                {"source": "g/**/*.json"},
            ]
        },
    )
    assert [fields(d) for d in semantic(tmp_path)] == [
        (
            "profile.yaml",
            *at(tmp_path, '"more/site.json"'),
            ("settings", 1, "source"),
            "macro namespace 'site' is already used by 'settings/site.json'",
            None,
        ),
        (
            "profile.yaml",
            *at(tmp_path, '"g/**/*.json"'),
            ("settings", 2, "source"),
            "macro namespace 'n' is already used by 'g/x/n.json'",
            None,
        ),
    ]


@pytest.mark.parametrize(
    ("content", "line", "col", "message"),
    [
        (b'{\n  "a": \n}', 3, 1, "invalid JSON: Expecting value"),
        (b'{\n  "a": 1,\n  "a": 2\n}', 3, 3, 'duplicate key "a"'),
        (b"[1, 2]", 1, 1, "a settings file must hold a JSON object"),
        (b'{"a": "\xff"}', 1, 8, "settings file is not valid UTF-8"),
    ],
)
def test_a_settings_file_that_does_not_load_is_located_inside_it(
    tmp_path: Path, content: bytes, line: int, col: int, message: str
) -> None:
    make_profile(
        tmp_path,
        {"settings/bad.json": content, "scripts/x.sh": b"echo #bad.a#\n"},
        lists={"settings": [{"source": "settings/bad.json"}], "scripts": ["scripts/x.sh"]},
    )
    problem, unknown = semantic(tmp_path)
    assert fields(problem) == (
        "settings/bad.json",
        line,
        col,
        ("settings", 0, "source"),
        message,
        None,
    )
    assert (unknown.file, unknown.message) == ("scripts/x.sh", "unknown macro #bad.a#")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": NaN}', "invalid JSON: NaN is not JSON"),
        (b'{"a":' * 70 + b"1" + b"}" * 70, "`bad" + ".a" * 65 + "`: nested deeper than 64 levels"),
    ],
)
def test_a_problem_of_a_whole_settings_file_is_at_its_entry(
    tmp_path: Path, content: bytes, message: str
) -> None:
    make_profile(tmp_path, {"bad.json": content}, lists={"settings": ["bad.json"]})
    (diag,) = semantic(tmp_path)
    assert fields(diag) == (
        "profile.yaml",
        *at(tmp_path, '"bad.json"'),
        ("settings", 0),
        message,
        None,
    )


def test_a_settings_file_over_16_mib_is_refused_unread(tmp_path: Path) -> None:
    make_profile(tmp_path, {"big.json": b""}, lists={"settings": ["big.json"]})
    os.truncate(tmp_path / "big.json", MIB16 + 1)
    (diag,) = semantic(tmp_path)
    assert (diag.file, diag.path, diag.message) == (
        "profile.yaml",
        ("settings", 0),
        "settings file is larger than 16 MiB",
    )


def test_a_settings_file_changed_since_it_was_matched_is_at_its_entry(tmp_path: Path) -> None:
    make_profile(tmp_path, {"s.json": b"{}"}, lists={"settings": ["s.json"]})
    profile, files, locate = loaded(tmp_path)
    (tmp_path / "s.json").write_bytes(b'{"a": "longer"}')
    (diag,) = semantic_diagnostics(profile, files, locate)
    assert (diag.file, diag.path) == ("profile.yaml", ("settings", 0))
    assert diag.message == (
        f"{tmp_path / 's.json'}: size changed since the profile was collected "
        "(2 -> 15 bytes); rebuild"
    )


# --- macro uses -----------------------------------------------------------------------------


def test_unknown_macros_are_located_in_the_file_with_a_suggestion(tmp_path: Path) -> None:
    text = (
        "lang #site.server.locale#\n"
        "kb #site.server.locael#\n"
        "# a comment # and #!/bin/sh\n"
        "  \u00e9 #nosuch.value# #predefined.os.family#\n"
    )
    make_profile(
        tmp_path,
        {"settings/site.json": b'{"server": {"locale": "en"}}', "unattend/ks.cfg": text.encode()},
        lists={"settings": ["settings/site.json"], "unattend": [{"source": "unattend/ks.cfg"}]},
    )
    assert [fields(d) for d in semantic(tmp_path)] == [
        (
            "unattend/ks.cfg",
            2,
            4,
            ("unattend", 0, "source"),
            "unknown macro #site.server.locael#",
            "did you mean #site.server.locale#?",
        ),
        (
            "unattend/ks.cfg",
            4,
            5,  # columns count characters, not bytes
            ("unattend", 0, "source"),
            "unknown macro #nosuch.value#",
            "define it in a settings file",
        ),
    ]


def test_predefined_and_install_macros_are_known(tmp_path: Path) -> None:
    script = (
        b"#predefined.profile.id# #predefined.installOptions.selinux#\n"
        b"#predefined.otherSettings.timeZone# #predefined.installOptions.count#\n"
        b"#predefined.otherSettings.installLocale#\n"
    )
    make_profile(
        tmp_path,
        {"x.sh": script},
        lists={"scripts": ["x.sh"]},
        install={"selinux": "enforcing", "timeZone": "UTC", "count": 3},
    )
    (diag,) = semantic(tmp_path)  # no install.locale: no installLocale either
    assert (diag.line, diag.col, diag.message, diag.hint) == (
        3,
        1,
        "unknown macro #predefined.otherSettings.installLocale#",
        "did you mean #predefined.otherSettings.timeZone#?",
    )


def test_only_files_that_render_are_read(tmp_path: Path) -> None:
    make_profile(
        tmp_path,
        {"a.sh": b"#no.such#", "b.cfg": b"#no.such# \xff", "c.txt": b"#no.such#\xff"},
        lists={
            "scripts": [{"source": "a.sh", "render": False}],
            "unattend": [{"source": "b.cfg", "render": False}],
            "files": ["c.txt"],
        },
    )
    assert semantic(tmp_path) == []


def test_a_file_to_render_must_be_utf8(tmp_path: Path) -> None:
    make_profile(tmp_path, {"scripts/x.sh": b"echo \xff\n"}, lists={"scripts": ["scripts/x.sh"]})
    (diag,) = semantic(tmp_path)
    assert fields(diag) == (
        "profile.yaml",
        *at(tmp_path, '"scripts/x.sh"'),
        ("scripts", 0),
        "'scripts/x.sh': not UTF-8 text at byte 5 (invalid start byte)",
        NOT_UTF8_HINT,
    )


def test_a_file_to_render_is_at_most_16_mib(tmp_path: Path) -> None:
    make_profile(
        tmp_path,
        {"big.sh": b"", "edge.sh": b""},
        lists={"scripts": [{"source": "big.sh"}, {"source": "edge.sh"}]},
    )
    os.truncate(tmp_path / "big.sh", MIB16 + 1)
    os.truncate(tmp_path / "edge.sh", MIB16)  # exactly the limit: read, and clean
    (diag,) = semantic(tmp_path)
    assert fields(diag) == (
        "profile.yaml",
        *at(tmp_path, '"big.sh"'),
        ("scripts", 0, "source"),
        "'big.sh': files to render are at most 16 MiB",
        "set `render: false`",
    )


def test_a_file_to_render_changed_since_it_was_matched_is_at_its_entry(tmp_path: Path) -> None:
    make_profile(tmp_path, {"x.sh": b"echo\n"}, lists={"scripts": ["x.sh"]})
    profile, files, locate = loaded(tmp_path)
    (tmp_path / "x.sh").write_bytes(b"echo more\n")
    (diag,) = semantic_diagnostics(profile, files, locate)
    assert (diag.file, diag.path, diag.hint) == ("profile.yaml", ("scripts", 0), None)
    assert diag.message.endswith(
        "size changed since the profile was collected (5 -> 10 bytes); rebuild"
    )


def test_a_base_s_files_are_named_beside_the_base(tmp_path: Path) -> None:
    make_profile(
        tmp_path / "base",
        {"scripts/x.sh": b"\n  #nope.value#\n", "settings/bad.json": b"{,}"},
        lists={"scripts": ["scripts/x.sh"], "settings": ["settings/bad.json"]},
    )
    (tmp_path / "child").mkdir()
    (tmp_path / "child" / "profile.yaml").write_text('extends: ../base\nname: "child"\n')
    assert sorted(
        (d.file, d.line, d.col, d.message)
        for d in semantic(tmp_path / "child", "child/profile.yaml")
    ) == [
        ("base/scripts/x.sh", 2, 3, "unknown macro #nope.value#"),
        (
            "base/settings/bad.json",
            1,
            2,
            "invalid JSON: Expecting property name enclosed in double quotes",
        ),
    ]


def test_shown_path_is_beside_the_declaring_profile_file() -> None:
    declared = SourceSpec(
        "file", "x/*", Path("/p"), position=Position(Path("../b/profile.yaml"), 1, 1)
    )
    bare = SourceSpec("file", "x/*", Path("/p"))
    rf = ResolvedFile(declared, "/p/x/y", "x/y", "custom/files/y", 0, 0, False)
    assert shown_path(rf) == "../b/x/y"
    assert shown_path(ResolvedFile(bare, "/p/x/y", "x/y", "custom/files/y", 0, 0, False)) == "x/y"


KEYS = st.sampled_from(["a", "b", "c", "ab", "b-c", "_x"])


@settings(max_examples=40, deadline=None)
@given(
    st.sets(KEYS, max_size=4),
    st.lists(st.tuples(KEYS, st.integers(0, 3)), min_size=1, max_size=8),
)
def test_exactly_the_undefined_macros_are_reported_where_they_are(
    defined: set[str], uses: list[tuple[str, int]]
) -> None:
    """Whatever a script uses, the unknown macros reported are exactly those no settings file
    defines, each at the line and column of its `#`."""
    lines = [" " * indent + f"echo #ns.{key}# ;" for key, indent in uses]
    text = "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_profile(
            root,
            {"ns.json": json.dumps(dict.fromkeys(defined, 1)).encode(), "x.sh": text.encode()},
            lists={"settings": ["ns.json"], "scripts": ["x.sh"]},
        )
        diagnostics = semantic(root)
    expected = [
        (n, indent + 6, f"unknown macro #ns.{key}#")
        for n, (key, indent) in enumerate(uses, 1)
        if key not in defined
    ]
    assert [(d.line, d.col, d.message) for d in diagnostics] == expected
    assert all(d.file == "x.sh" and d.path == ("scripts", 0) for d in diagnostics)


# --- rendering, as the build renders (issue 9, items 12 and 13) ------------------------------

RENDER_CASES = [
    # family, file to render, its text, the value of #s.v#
    ("rhel", "u/ks.cfg", "lang #s.v#\n", None),
    ("rhel", "u/ks.cfg", "lang en\nkeyboard #s.v#\n", "us\nrootpw x"),
    ("rhel", "u/ks.cfg", "lang #s.v#\n", "%pre"),
    ("rhel", "u/ks.cfg", "%post\n  %#s.v#\n%end\n", "end"),
    ("esxi", "u/ks.cfg", "network --hostname=#s.v#\n", "a\x85b"),
    ("windows", "u/autounattend.xml", "<r>\n  <a>#s.v#</a>\n</r>\n", "a\x01b"),
    ("windows", "u/autounattend.xml", "<r>\n  <a>#s.v#</b>\n</r>\n", "x"),
    ("windows", "u/autounattend.xml", "<!DOCTYPE r>\n<r>#s.v#</r>\n", "x"),
    ("sles", "u/autoinst.xml", "<r><![CDATA[#s.v#]]></r>\n", "a]]>b"),
    ("sles", "u/autoinst.xml", "<r>#s.v#</r><r/>\n", "x"),
    ("ubuntu", "u/user-data.yaml", "a:\n  b: 'x #s.v#'\n", "two\nlines"),
    ("ubuntu", "u/user-data.yaml", "a: [#s.v#\n", "x"),
    ("rhel", "x.sh", "#!/bin/sh\necho '#s.v#'\n", "a\rb"),
    ("windows", "x.ps1", "Write-Output '#s.v#'\r\n", "a\x00b"),
]


@pytest.mark.parametrize(("family", "rel", "text", "value"), RENDER_CASES)
def test_validate_refuses_whatever_rendering_refuses(
    tmp_path: Path, family: Family, rel: str, text: str, value: object
) -> None:
    """Each check the render stage makes, made by validate, in the same words, at the same
    place (before, validate passed every one of these and the build refused them)."""
    key = "scripts" if rel.startswith("x.") else "unattend"
    root = make_profile(
        tmp_path / "p",
        {"s.json": json.dumps({"v": value}).encode(), rel: text.encode()},
        family=family,
        lists={"settings": ["s.json"], key: [rel]},
    )
    profile, files, _ = loaded(root)
    (settings,) = (settings_file(f, f.rel_source) for f in files if f.spec.kind == "settings")
    (rendered,) = (f for f in files if f.spec.kind != "settings")
    values = macro_table(profile, [settings])[0]
    fmt = render_format(family, rendered.spec.kind, rendered.bundle_path)
    with pytest.raises(RenderError) as refused:
        render_text(text, values, fmt, rel)
    assert [fields(d) for d in semantic(root)] == [
        (rel, refused.value.line, refused.value.col, (key, 0), refused.value.reason, None)
    ]
    with (
        pytest.raises(ProfileInvalid, match="^" + re.escape(f"{root}/{rel}:")),
        load_checked_profile(root),
    ):
        pass


def test_a_rendered_file_over_16_mib_is_refused_by_validate(tmp_path: Path) -> None:
    root = make_profile(
        tmp_path / "p",
        {
            "s.json": json.dumps({"big": "x" * (1024 * 1024)}).encode(),
            "x.sh": b"#!/bin/sh\n" + b"echo #s.big#\n" * 17,
        },
        lists={"settings": ["s.json"], "scripts": ["x.sh"]},
    )
    assert [fields(d) for d in semantic(root)] == [
        (
            "x.sh",
            17,
            6,
            ("scripts", 0),
            "macro `s.big`: rendered, the file would be larger than 16 MiB",
            "use large values in fewer places, or set `render: false`",
        )
    ]


def test_the_rendered_files_of_a_profile_are_capped_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(macros_render, "MAX_RENDERED_TOTAL", 1000)
    scripts = {f"x{i}.sh": b"echo #s.v#\n" for i in range(3)}
    entries: list[object] = [*sorted(scripts)]
    root = make_profile(
        tmp_path / "p",
        {"s.json": json.dumps({"v": "v" * 400}).encode(), **scripts},
        lists={"settings": ["s.json"], "scripts": entries},
    )
    assert [fields(d) for d in semantic(root)] == [
        (
            "x2.sh",
            1,
            6,
            ("scripts", 2),
            "macro `s.v`: rendered, the profile's files would add up to more than 1000 bytes",
            "use large values in fewer places, or set `render: false`",
        )
    ]
