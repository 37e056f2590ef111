"""Macros in autoinstall (YAML) files: every value either loads back as itself or is refused."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from osbundle.macros.grammar import RenderError, Scalar, value_text
from osbundle.macros.render import render_text

TEXT = st.text(st.characters(codec="utf-8"))
SCALARS = st.one_of(
    TEXT,
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["true", "null", "1.5", "0x10", "~", "- a", "a: b", "#x", "'", '"', "\\"]),
)


def render(template: str, value: Scalar) -> str:
    return render_text(template, {"s.v": value, "s.w": "w"}, "autoinstall", "user-data")


def load(text: str) -> Any:
    return yaml.safe_load(text)


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("#cloud-config\nautoinstall:\n  locale: #s.v#\n", ("autoinstall", "locale")),
        ("a:\n  b: #s.v#   # trailing comment\n", ("a", "b")),
        ("a:\n  - x\n  - #s.v#\n", ("a", 1)),
        ("a:\n  - k: #s.v#\n    j: 1\n", ("a", 0, "k")),
        ("a: [#s.w#, #s.v#]\n", ("a", 1)),
        ("a: {k: #s.v#, j: #s.w#}\n", ("a", "k")),
        ("a: [\n  #s.v#,\n  2]\n", ("a", 0)),
        ("a:\n  #s.v#\n", ("a",)),
        ("--- #s.v#\n", ()),
    ],
)
@given(value=SCALARS)
def test_whole_scalar_values_load_back_with_their_type(
    template: str, path: tuple[Any, ...], value: Scalar
) -> None:
    node = load(render(template, value))
    for key in path:
        node = node[key]
    assert node == value
    assert type(node) is type(value)


@given(key=TEXT, value=st.integers())
def test_a_macro_can_be_a_whole_key(key: str, value: int) -> None:
    out = render_text("m:\n  #s.k#: #s.v#\n", {"s.k": key, "s.v": value}, "autoinstall", "u")
    assert load(out) == {"m": {key: value}}


@given(value=SCALARS)
@example(value='a"b\\c\nd\te\x85\u2028\ufeff\x7f\U0001f600')
def test_double_quoted_contexts_escape(value: Scalar) -> None:
    loaded = load(render('a: "pre #s.v# #s.w#"\nb: "x\n  #s.v#"\n', value))
    assert loaded == {"a": f"pre {value_text(value)} w", "b": f"x {value_text(value)}"}


CONTEXTS = [
    ("a: 'it''s #s.v#.'\n", lambda d: d["a"], "it's {}."),
    ("a:\n  - echo #s.v# done\n", lambda d: d["a"][0], "echo {} done"),
    ("a:\n  - echo #s.v#\n", lambda d: d["a"][0], "echo {}"),
    ("a: #s.v#-x\n", lambda d: d["a"], "{}-x"),
    ("a: [x-#s.v#, 2]\n", lambda d: d["a"][0], "x-{}"),
    ('a:\n  - |\n    echo "#s.v#"\n    #s.v#\n', lambda d: d["a"][0], 'echo "{0}"\n{0}\n'),
    ("a: >-\n  #s.v# x\nb: 1\n", lambda d: d["a"], "{} x"),
    ("a: 1 # note #s.v#\n", lambda d: str(d["a"]), "1"),
    ("# top #s.v#\na: 2\n", lambda d: str(d["a"]), "2"),
    ("a: one\n  #s.v#\n", lambda d: d["a"], "one {}"),
    ("- x\n  y #s.v#\n", lambda d: d[0], "x y {}"),
    ('a: "x\n  #s.v#\n  y"\n', lambda d: d["a"], "x {} y"),
    ("a: 'x\n  #s.v#\n  y'\n", lambda d: d["a"], "x {} y"),
]


@pytest.mark.parametrize(("template", "pick", "expected"), CONTEXTS)
@given(value=TEXT)
@example(value="a: b")
@example(value="x #y")
@example(value="ok")
@example(value="-")
@example(value=" lead")
@example(value="a\nb")
def test_other_contexts_load_back_exactly_or_refuse(
    template: str, pick: Any, expected: str, value: str
) -> None:
    try:
        out = render(template, value)
    except RenderError:
        return
    assert pick(load(out)) == expected.format(value)


@pytest.mark.parametrize(("template", "pick", "expected"), CONTEXTS)
def test_ordinary_values_are_accepted_everywhere(template: str, pick: Any, expected: str) -> None:
    for value in ("en_US.UTF-8", "host-01", "http://mirror/ubuntu", "C:\\path", "a b"):
        out = render(template, value)
        assert pick(load(out)) == expected.format(value)


@pytest.mark.parametrize(
    ("template", "value", "reason"),
    [
        ("a:\n  - echo #s.v#\n", "x: y", "cannot hold ': '"),
        ("a:\n  - echo #s.v#\n", "x #y", "cannot hold ' #'"),
        ("a: #s.v#-x\n", "*x", "a leading '*'"),
        ("a: [x-#s.v#]\n", "a,b", "cannot hold ','"),
        ("a: 'x#s.v#'\n", "a\nb", "line break"),
        ("a: 'x#s.v#'\n", "\x07", "U+0007"),
        ("a: |\n  #s.v#\n", "  x", "it would change the block"),
        ("a: &#s.v# 1\n", "x", "not inside a YAML scalar"),
    ],
)
def test_refusals_say_why(template: str, value: str, reason: str) -> None:
    with pytest.raises(RenderError) as err:
        render(template, value)
    assert str(err.value).startswith("user-data:")
    assert "macro `s.v`: " in str(err.value)
    assert reason in str(err.value)


def test_rendered_yaml_must_parse() -> None:
    with pytest.raises(RenderError, match=r"^user-data:2:4: rendered YAML does not parse: "):
        render("a: #s.v#\nb: ]\n", "x")


def test_multi_line_quotes_and_flows_carry_state_across_lines() -> None:
    template = "a: \"one\n  #s.v#\"\nb: [1,\n  #s.v#]\nc: 'x\n  y#s.v#'\n"
    assert load(render(template, 'q"')) is not None
    loaded = load(render(template, "v"))
    assert loaded == {"a": "one v", "b": [1, "v"], "c": "x yv"}


def test_no_macro_means_no_change() -> None:
    text = "#cloud-config\nautoinstall:\n  version: 1  # one\n  x: '#'\n"
    assert render(text, "v") == text


def test_crlf_lines_keep_their_endings() -> None:
    out = render("a: #s.v#\r\nb: 'x#s.v#'\r\n", "v")
    assert out == "a: \"v\"\r\nb: 'xv'\r\n"
