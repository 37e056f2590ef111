from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.errors import InputError
from osbundle.macros.render import (
    MacroUse,
    NullValue,
    RenderError,
    Scalar,
    find_macros,
    load_settings,
    parse_settings,
    predefined_values,
    render_format,
    render_text,
)
from osbundle.model import OsSpec, Profile

SEGMENT = st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True)
FIRST = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,7}", fullmatch=True)
NAMES = st.builds(
    lambda first, rest: ".".join([first, *rest]), FIRST, st.lists(SEGMENT, min_size=1, max_size=4)
)
XML_TEXT = st.text(
    st.characters(
        codec="utf-8",
        blacklist_characters="".join(map(chr, [*range(9), 11, 12, *range(14, 32)]))
        + "\ufffe\uffff",
    )
)


# --- find_macros -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#predefined.os.arch#", [("predefined.os.arch", 1, 1)]),
        ("x #server_settings.server0.locale# y", [("server_settings.server0.locale", 1, 3)]),
        ("a\nbb #_x.y-z.0#", [("_x.y-z.0", 2, 4)]),
        ("#a.b##c.d#", [("a.b", 1, 1), ("c.d", 1, 6)]),
        ("##a.b##", [("a.b", 1, 2)]),
        ("<v>#ns.1.-#</v>", [("ns.1.-", 1, 4)]),
        ("é #a.b#", [("a.b", 1, 3)]),
        ("line\r\n\t#a.b#", [("a.b", 2, 2)]),
    ],
)
def test_find_macros_finds(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert find_macros(text) == [MacroUse(*e) for e in expected]


@pytest.mark.parametrize(
    "text",
    [
        "#!/bin/sh",
        "#!/usr/bin/env python3.11#",
        "# comment #",
        "# a.b #",
        "echo ${#arr[@]} ${#x.y}",
        "<# PowerShell block comment #>",
        "<#a.b#>",
        "<#.SYNOPSIS\n  text.more\n#>",
        "##",
        "####",
        "#single#",
        "#1.5#",
        "#-a.b#",
        "#a.#",
        "#.a.b#",
        "#a..b#",
        "#a.b c#",
        "#a.b",
        "color: #fff;",
        "#ä.b#",
    ],
)
def test_find_macros_ignores(text: str) -> None:
    assert find_macros(text) == []


@given(NAMES, st.text(alphabet=st.characters(blacklist_characters="#<")), st.text("ab \n"))
def test_find_macros_reports_name_line_and_column(name: str, before: str, after: str) -> None:
    text = f"{before}#{name}#{after}"
    line = before.count("\n") + 1
    col = len(before) - (before.rfind("\n") + 1) + 1
    assert find_macros(text) == [MacroUse(name, line, col)]


# --- predefined values -------------------------------------------------------------------------


def make_profile(install: dict[str, Any]) -> Profile:
    return Profile(
        path=Path("/p/profile.yaml"),
        root=Path("/p"),
        id="win2016|win2016-x86_64-install-Standard_core",
        name="Custom-2016",
        description="Windows & more",
        os=OsSpec("windows", "2016", "x86_64"),
        install=install,
        predefined_unattend=None,
        entries=(),
    )


def test_predefined_values_cover_profile_os_install_and_appliance_aliases() -> None:
    install = {
        "locale": "en-US",
        "timeZone": "UTC",
        "ipAssignment": "dhcpv4",
        "edition": "datacenter",
        "cores": 4,
        "secure": True,
        "nested": {"a": [1, None]},
    }
    values = predefined_values(make_profile(install))
    assert values == {
        "predefined.profile.id": "win2016|win2016-x86_64-install-Standard_core",
        "predefined.profile.name": "Custom-2016",
        "predefined.profile.description": "Windows & more",
        "predefined.os.family": "windows",
        "predefined.os.release": "2016",
        "predefined.os.arch": "x86_64",
        "predefined.installOptions.locale": "en-US",
        "predefined.installOptions.timeZone": "UTC",
        "predefined.installOptions.ipAssignment": "dhcpv4",
        "predefined.installOptions.edition": "datacenter",
        "predefined.installOptions.cores": 4,
        "predefined.installOptions.secure": True,
        "predefined.installOptions.nested.a.0": 1,
        "predefined.globalSettings.ipAssignment": "dhcpv4",
        "predefined.otherSettings.installLocale": "en-US",
        "predefined.otherSettings.timeZone": "UTC",
    }


def test_predefined_aliases_are_absent_when_options_are_unset() -> None:
    values = predefined_values(make_profile({}))
    assert not any(k.startswith(("predefined.globalSettings", "predefined.other")) for k in values)


# --- settings ----------------------------------------------------------------------------------


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "s.json"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def test_load_settings_flattens_objects_and_arrays(tmp_path: Path) -> None:
    doc = {
        "server0": {"locale": "de-DE", "port": 8080, "ratio": 0.5, "on": False},
        "servers": [{"name": "a"}, {"name": "b", "tags": ["x"]}],
        "empty": None,
        "bad key": "ignored",
        "": "ignored",
        "dot.ted": "ignored",
    }
    values = load_settings("server_settings", write(tmp_path, json.dumps(doc)), "s.json")
    assert values == {
        "server_settings.server0.locale": "de-DE",
        "server_settings.server0.port": 8080,
        "server_settings.server0.ratio": 0.5,
        "server_settings.server0.on": False,
        "server_settings.servers.0.name": "a",
        "server_settings.servers.1.name": "b",
        "server_settings.servers.1.tags.0": "x",
        "server_settings.empty": "",
    }
    assert isinstance(values["server_settings.empty"], NullValue)


JSON_DOCS = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(SEGMENT, children, max_size=3)
    ),
    max_leaves=20,
)


@given(st.dictionaries(SEGMENT, JSON_DOCS, max_size=4))
def test_flattened_names_lead_back_to_every_scalar(doc: dict[str, Any]) -> None:
    values = parse_settings("ns", json.dumps(doc).encode(), "s.json")

    def leaves(node: Any, path: tuple[str, ...]) -> dict[tuple[str, ...], Any]:
        if isinstance(node, dict):
            items: Any = node.items()
        elif isinstance(node, list):
            items = ((str(i), v) for i, v in enumerate(node))
        else:
            return {path: node}
        return {k: v for key, child in items for k, v in leaves(child, (*path, key)).items()}

    expected = leaves(doc, ("ns",))
    assert set(values) == {".".join(p) for p in expected}
    for path, value in expected.items():
        got = values[".".join(path)]
        assert isinstance(got, NullValue) if value is None else got == value


@pytest.mark.parametrize(
    "content",
    ['{"a": 1,\n  "b": }', '{\n\n   "a" 1}', "[1, 2", '{"a": 1} x', "", "{'a': 1}"],
)
def test_json_errors_carry_the_decoder_position(tmp_path: Path, content: str) -> None:
    with pytest.raises(json.JSONDecodeError) as decode:
        json.loads(content)
    with pytest.raises(InputError) as err:
        load_settings("ns", write(tmp_path, content), "settings/s.json")
    where = f"settings/s.json:{decode.value.lineno}:{decode.value.colno}: invalid JSON: "
    assert str(err.value) == where + decode.value.msg


def test_duplicate_keys_are_errors_at_the_second_key(tmp_path: Path) -> None:
    content = '{"a": {"x": 1, "y": {"x": 2}},\n "b": [{"x": 1}],\n "a": 3}'
    with pytest.raises(InputError, match=r'^s\.json:3:2: duplicate key "a"$'):
        load_settings("ns", write(tmp_path, content), "s.json")
    nested = '{"k": [{"v": 1,\n   "v": 2}]}'
    with pytest.raises(InputError, match=r'^s\.json:2:4: duplicate key "v"$'):
        load_settings("ns", write(tmp_path, nested), "s.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": "\xff"}', r"^s\.json:1:8: settings file is not valid UTF-8$"),
        (b"[1]", r"^s\.json:1:1: a settings file must hold a JSON object$"),
        (b'{"a": NaN}', r"^s\.json: invalid JSON: NaN is not JSON$"),
        (b"[" * 100_000, r"^s\.json: settings file is nested too deeply$"),
    ],
)
def test_bad_settings_files_are_input_errors(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_settings("ns", write(tmp_path, content), "s.json")


def test_settings_accept_a_bom_and_refuse_bad_namespaces_and_big_files(tmp_path: Path) -> None:
    assert load_settings("ns", write(tmp_path, b'\xef\xbb\xbf{"a": 1}'), "s.json") == {"ns.a": 1}
    for namespace in ("predefined", "1abc", "a.b", ""):
        with pytest.raises(InputError, match="cannot be a macro namespace"):
            load_settings(namespace, write(tmp_path, "{}"), "s.json")
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(16 * 1024 * 1024 + 1)
    with pytest.raises(InputError, match="larger than 16 MiB"):
        load_settings("ns", big, "big.json")
    with pytest.raises(InputError, match="cannot read settings file"):
        load_settings("ns", tmp_path / "missing.json", "missing.json")


# --- render_format -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "kind", "path", "fmt"),
    [
        ("windows", "unattend", "unattend/autounattend.xml", "windows-unattend"),
        ("sles", "unattend", "unattend/autoinst.XML", "autoyast"),
        ("rhel", "unattend", "unattend/ks.cfg", "kickstart"),
        ("rhel", "unattend", "unattend/a.ks", "kickstart"),
        ("esxi", "unattend", "unattend/ks.cfg", "esxi-ks"),
        ("ubuntu", "unattend", "unattend/user-data", "autoinstall"),
        ("ubuntu", "unattend", "unattend/a.yaml", "autoinstall"),
        ("windows", "script", "custom/scripts/post.ps1", "script"),
        ("rhel", "script", "custom/scripts/pre.sh", "script"),
    ],
)
def test_render_format(family: str, kind: str, path: str, fmt: str) -> None:
    assert render_format(family, kind, path) == fmt


@pytest.mark.parametrize(
    ("family", "kind", "path"),
    [("rhel", "unattend", "u/a.xml"), ("windows", "driver", "d/x.inf"), ("bsd", "unattend", "x")],
)
def test_render_format_refuses_what_does_not_render(family: str, kind: str, path: str) -> None:
    with pytest.raises(InputError):
        render_format(family, kind, path)


# --- render_text: common rules -----------------------------------------------------------------

ALL_FORMATS = ["windows-unattend", "autoyast", "kickstart", "esxi-ks", "autoinstall", "script"]


def wrap(fmt: str, body: str) -> str:
    return f"<r>{body}</r>" if fmt in ("windows-unattend", "autoyast") else f"k: {body}"


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_substituted_values_are_never_scanned_again(fmt: Any) -> None:
    values: dict[str, Scalar] = {"a.b": "x#other.macro#y", "other.macro": "BOOM"}
    out = render_text(wrap(fmt, "#a.b#"), values, fmt, "f")
    assert "#other.macro#" in out
    assert "BOOM" not in out


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_unknown_macro_names_file_line_column_and_suggests(fmt: Any) -> None:
    values: dict[str, Scalar] = {"predefined.os.arch": "x86_64"}
    text = "\n\n" + wrap(fmt, "#predefined.os.arc#")
    col = text.split("\n")[2].index("#") + 1
    with pytest.raises(RenderError) as err:
        render_text(text, values, fmt, "unattend/u")
    assert str(err.value) == (
        f"unattend/u:3:{col}: macro `predefined.os.arc`: unknown macro "
        "(did you mean `predefined.os.arch`?)"
    )


def test_unknown_macro_without_a_close_name_has_no_hint() -> None:
    with pytest.raises(RenderError, match=r"^f:1:4: macro `zz\.top`: unknown macro$"):
        render_text("k: #zz.top#", {"a.b": 1}, "script", "f")


def test_objects_and_nulls_are_not_values() -> None:
    values: dict[str, Scalar] = {"ns.server.name": "a", "ns.gone": NullValue()}
    with pytest.raises(RenderError, match=r"^f:1:1: macro `ns\.server`: names an object"):
        render_text("#ns.server#", values, "script", "f")
    with pytest.raises(RenderError, match=r"^f:1:3: macro `ns\.gone`: is null in its settings"):
        render_text("x #ns.gone#", values, "script", "f")


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "true"), (False, "false"), (42, "42"), (-1.5, "-1.5"), (1e100, "1e+100")],
)
def test_scalars_render_as_text(value: Scalar, text: str) -> None:
    assert render_text("v=#a.b#", {"a.b": value}, "script", "f") == f"v={text}"


# --- XML ---------------------------------------------------------------------------------------


@given(XML_TEXT, XML_TEXT, st.one_of(st.integers(), st.booleans(), st.floats(allow_nan=False)))
def test_xml_values_round_trip_through_a_parser(text: str, attr: str, number: Scalar) -> None:
    template = (
        '<?xml version="1.0" encoding="utf-8"?>\n<unattend xmlns="urn:x">\n'
        "  <v a=\"#s.attr#\" b='#s.attr#'>#s.text#</v>\n  <n>#s.num#</n>\n</unattend>\n"
    )
    values: dict[str, Scalar] = {"s.text": text, "s.attr": attr, "s.num": number}
    for fmt in ("windows-unattend", "autoyast"):
        out = render_text(template, values, fmt, "a.xml")
        root = ElementTree.fromstring(out.encode())
        v = root.find("{urn:x}v")
        n = root.find("{urn:x}n")
        assert v is not None
        assert n is not None
        assert (v.text or "") == text
        assert v.get("a") == v.get("b") == attr
        assert n.text == render_text("#s.num#", values, "script", "f")
        assert out.count("\n") == template.count("\n")


@given(XML_TEXT.filter(lambda t: "]]>" not in t and "\r" not in t))
def test_xml_values_in_cdata_go_in_verbatim(text: str) -> None:
    out = render_text("<s><![CDATA[echo #s.v#;]]></s>", {"s.v": text}, "autoyast", "a.xml")
    assert ElementTree.fromstring(out.encode()).text == f"echo {text};"


@pytest.mark.parametrize("bad", ["]]>", "a\rb"])
def test_cdata_refuses_its_terminator_and_cr(bad: str) -> None:
    with pytest.raises(RenderError, match=r"^a\.xml:1:13: macro `s\.v`: value holds"):
        render_text("<s><![CDATA[#s.v#]]></s>", {"s.v": bad}, "autoyast", "a.xml")


@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1f", "\ufffe", "\uffff", "\ud800"]
)
def test_xml_illegal_characters_are_refused(char: str) -> None:
    with pytest.raises(RenderError, match=r"^a\.xml:2:4: macro `s\.v`: value holds U\+"):
        render_text("<r>\n<v>#s.v#</v></r>", {"s.v": f"a{char}b"}, "windows-unattend", "a.xml")


@pytest.mark.parametrize(
    "prolog", ['<!DOCTYPE r [<!ENTITY e "x">]>', "<!doctype r>", '<!ENTITY e "x">']
)
def test_doctype_and_entity_declarations_are_refused(prolog: str) -> None:
    with pytest.raises(RenderError, match=r"^a\.xml:2:1: DOCTYPE and ENTITY declarations"):
        render_text(f"<?xml version='1.0'?>\n{prolog}<r/>", {}, "autoyast", "a.xml")


def test_rendered_xml_must_parse() -> None:
    with pytest.raises(
        RenderError, match=r"^a\.xml:3:\d+: rendered XML does not parse: mismatched"
    ):
        render_text("<r>\n<a>#s.v#\n</b></r>", {"s.v": "x"}, "windows-unattend", "a.xml")


def test_xml_comments_get_escaped_values() -> None:
    out = render_text("<r><!-- #s.v# --></r>", {"s.v": "a&b"}, "autoyast", "a.xml")
    assert out == "<r><!-- a&amp;b --></r>"


# --- kickstart, esxi-ks, scripts ---------------------------------------------------------------

KS_TEMPLATE = "lang #s.v#\n%post\necho '#s.v#'\n%end\n"


@pytest.mark.parametrize("fmt", ["kickstart", "esxi-ks"])
@pytest.mark.parametrize(
    "bad",
    ["a\nb", "a\rb", "a\x00b", "a\u2028b", "a\x85b", "a\x0cb", "%end", "  %post", "%", "\ud800"],
)
def test_kickstart_refuses_values_that_break_lines(fmt: Any, bad: str) -> None:
    with pytest.raises(RenderError, match=r"^ks\.cfg:1:6: macro `s\.v`: value "):
        render_text(KS_TEMPLATE, {"s.v": bad}, fmt, "ks.cfg")


def test_kickstart_refuses_a_rendered_end_line() -> None:
    with pytest.raises(RenderError, match=r"^ks\.cfg:3:4: macro `s\.v`: the rendered line reads"):
        render_text("%post\necho\n  %#s.v# \n%end\n", {"s.v": "end"}, "kickstart", "ks.cfg")


@given(
    st.text(
        st.characters(
            codec="utf-8",
            blacklist_characters="\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
        )
    ).filter(lambda t: not t.lstrip().startswith("%"))
)
def test_kickstart_values_go_in_verbatim(value: str) -> None:
    out = render_text(KS_TEMPLATE, {"s.v": value}, "kickstart", "ks.cfg")
    assert out == KS_TEMPLATE.replace("#s.v#", value)


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\x00b"])
def test_scripts_refuse_nul_cr_lf(bad: str) -> None:
    with pytest.raises(RenderError, match=r"^s\.ps1:2:7: macro `s\.v`: value holds"):
        render_text("# x\n$x = '#s.v#'", {"s.v": bad}, "script", "s.ps1")


@given(st.text(st.characters(codec="utf-8", blacklist_characters="\x00\r\n")))
def test_script_values_go_in_verbatim(value: str) -> None:
    template = "#!/bin/sh\n# comment #\necho ${#arr[@]} #s.v# <#a.b#>\n"
    out = render_text(template, {"s.v": value}, "script", "s.sh")
    assert out == template.replace("#s.v#", value)


def test_render_error_is_an_input_error() -> None:
    assert issubclass(RenderError, InputError)
    with pytest.raises(RenderError) as err:
        render_text("#a.b#", {}, "script", "f")
    assert re.fullmatch(r"f:1:1: macro `a\.b`: unknown macro", str(err.value))
