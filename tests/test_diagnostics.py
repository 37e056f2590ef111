"""Diagnostics as values: document paths in text and the one-line rendering."""

from __future__ import annotations

import pytest

from osbundle.diagnostics import Diagnostic, DocPath, format_doc_path


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "(root)"),
        (("drivers",), "drivers"),
        (("drivers", 0, "source"), "drivers[0].source"),
        ((0,), "[0]"),
        ((0, "a"), "[0].a"),
        (("a", 1, 2), "a[1][2]"),
        (("install", "nested", "key"), "install.nested.key"),
    ],
)
def test_format_doc_path(path: DocPath, text: str) -> None:
    assert format_doc_path(path) == text


def test_render_without_a_hint() -> None:
    diagnostic = Diagnostic("p/profile.yaml", 4, 13, ("drivers", 0, "source"), "no such file")
    assert diagnostic.render() == "p/profile.yaml:4:13: drivers[0].source: no such file"
    assert diagnostic.severity == "error"


def test_render_with_a_hint() -> None:
    diagnostic = Diagnostic(
        "p.yaml", 1, 1, (), "unknown key 'drvers'", hint="did you mean 'drivers'?"
    )
    assert diagnostic.render() == (
        "p.yaml:1:1: (root): unknown key 'drvers' (hint: did you mean 'drivers'?)"
    )


def test_an_empty_hint_is_no_hint() -> None:
    assert Diagnostic("p.yaml", 2, 3, ("a",), "m", hint="").render() == "p.yaml:2:3: a: m"


def test_a_warning_renders_like_an_error() -> None:
    warning = Diagnostic("p.yaml", 2, 3, ("a",), "m", severity="warning")
    assert warning.render() == "p.yaml:2:3: a: m"
    assert warning != Diagnostic("p.yaml", 2, 3, ("a",), "m")
