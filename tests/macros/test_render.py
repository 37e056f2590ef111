from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.errors import InputError
from osbundle.macros.grammar import NullValue, RenderError, Scalar
from osbundle.macros.render import (
    MAX_RENDERED_BYTES,
    MAX_RENDERED_TOTAL,
    RenderBudget,
    render_text,
)
from tests.macros.strategies import XML_TEXT

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
        "(did you mean #predefined.os.arch#?)"
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


# --- size caps (issue 9, item 12) --------------------------------------------------------------

MIB = 1024 * 1024


def test_a_rendered_file_of_exactly_16_mib_renders() -> None:
    line = "echo #s.v#\n"  # renders to 5 + value + 1 bytes
    out = render_text(line * 16, {"s.v": "x" * (MIB - 6)}, "script", "f")
    assert len(out.encode()) == 16 * MIB


@pytest.mark.parametrize(
    ("fmt", "template", "value", "where"),
    [
        ("script", "echo #s.v#\n" * 17, "x" * MIB, "16:6"),
        ("kickstart", "lang en\n" + "echo #s.v#\n" * 17, "x" * (MIB - 6), "17:6"),
        # The 16th value fills the file exactly; the text after it crosses: blamed on it.
        ("script", "echo #s.v#\n" * 17, "x" * (MIB - 6), "16:6"),
        # Escaped for XML, each `&` is 5 bytes: the escaped size counts, not the value's.
        ("windows-unattend", "<r>\n" + "<a>#s.v#</a>\n" * 4 + "</r>\n", "&" * MIB, "5:4"),
        ("autoinstall", "a:\n" + "  - #s.v#\n" * 17, "x" * MIB, "17:5"),
        # UTF-8 bytes count, not characters: 17 MiB of UTF-8 is 8.5 Mi characters here.
        ("script", "#s.v#\n" * 17, "é" * (MIB // 2), "16:1"),
    ],
)
def test_a_rendered_file_over_16_mib_is_refused_at_the_macro_that_crosses_it(
    fmt: Any, template: str, value: str, where: str
) -> None:
    with pytest.raises(RenderError) as err:
        render_text(template, {"s.v": value}, fmt, "profiles/x/f")
    assert str(err.value) == (
        f"profiles/x/f:{where}: macro `s.v`: rendered, the file would be larger than 16 MiB "
        "(hint: use large values in fewer places, or set `render: false`)"
    )
    assert (err.value.file, err.value.reason.startswith("macro `s.v`: rendered")) == (
        "profiles/x/f",
        True,
    )


def test_amplification_is_refused_within_bounded_memory() -> None:
    """One 2 MiB value used 100 times: refused holding about the cap, never the 200 MiB."""
    import tracemalloc

    value = "v" * (2 * MIB)
    template = "echo '#s.v#'\n" * 100
    tracemalloc.start()
    try:
        with pytest.raises(RenderError, match="larger than 16 MiB"):
            render_text(template, {"s.v": value}, "script", "f")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB  # the pieces are references to the one value; nothing was joined


def test_a_budget_caps_the_files_of_one_build_together() -> None:
    budget = RenderBudget(left=100)
    assert render_text("#s.v#", {"s.v": "x" * 60}, "script", "a", budget) == "x" * 60
    assert budget.left == 40
    with pytest.raises(RenderError) as err:
        render_text("ok #s.v#", {"s.v": "é" * 20}, "script", "b", budget)
    assert str(err.value).startswith(
        "b:1:4: macro `s.v`: rendered, the profile's files would add up to more than 256 MiB"
    )
    assert budget.left == 40  # a refused file spends nothing


def test_a_budget_defaults_to_the_documented_caps() -> None:
    assert RenderBudget().left == MAX_RENDERED_TOTAL == 256 * MIB
    assert MAX_RENDERED_BYTES == 16 * MIB


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_render_errors_carry_their_parts(fmt: Any) -> None:
    with pytest.raises(RenderError) as err:
        render_text("\n" + wrap(fmt, "#a.b#"), {}, fmt, "p/u")
    e = err.value
    assert (e.file, e.line, e.reason, e.hint) == ("p/u", 2, "macro `a.b`: unknown macro", None)
    assert str(e) == f"p/u:2:{e.col}: macro `a.b`: unknown macro"
