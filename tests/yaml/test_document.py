"""The YAML vocabulary: a document's marks, and the one-line YamlError with its diagnostic."""

from __future__ import annotations

import pytest

from osbundle.diagnostics import Diagnostic, DocPath
from osbundle.errors import InputError
from osbundle.yaml.document import Mark, YamlDocument, YamlError, yaml_error


def document(marks: dict[DocPath, Mark]) -> YamlDocument:
    return YamlDocument("p.yaml", {}, marks, key_marks={}, ambiguous={}, problems=())


MARKS: dict[DocPath, Mark] = {
    ("drivers",): Mark(3, 1),
    ("drivers", 0): Mark(4, 5),
    ("drivers", 0, "source"): Mark(4, 13),
}


def test_mark_for_a_recorded_path_is_its_own() -> None:
    doc = document(MARKS)
    assert doc.mark_for(("drivers", 0, "source")) == Mark(4, 13)
    assert doc.mark_for(("drivers",)) == Mark(3, 1)


def test_mark_for_falls_back_to_the_nearest_recorded_ancestor() -> None:
    doc = document(MARKS)
    assert doc.mark_for(("drivers", 0, "dest")) == Mark(4, 5)
    assert doc.mark_for(("drivers", 0, "source", "x", 1)) == Mark(4, 13)
    assert doc.mark_for(("drivers", 7)) == Mark(3, 1)


def test_mark_for_a_path_with_no_recorded_ancestor_is_1_1() -> None:
    assert document(MARKS).mark_for(("scripts", 0)) == Mark(1, 1)
    assert document({}).mark_for(()) == Mark(1, 1)
    assert document({(): Mark(2, 3)}).mark_for(("anything",)) == Mark(2, 3)  # the root's own


def test_key_marks_are_not_value_marks() -> None:
    doc = YamlDocument("p.yaml", {}, {}, key_marks={("a",): Mark(5, 5)}, ambiguous={}, problems=())
    assert doc.mark_for(("a",)) == Mark(1, 1)


def test_yaml_error_keeps_message_and_hint_to_one_line() -> None:
    error = yaml_error(
        "p.yaml",
        Mark(2, 7),
        "mapping values\n  are not allowed\there",
        ("os", "family"),
        hint="quote\nthe   value",
    )
    assert error.diagnostic == Diagnostic(
        "p.yaml", 2, 7, ("os", "family"), "mapping values are not allowed here", "quote the value"
    )
    assert str(error) == (
        "p.yaml:2:7: os.family: mapping values are not allowed here (hint: quote the value)"
    )
    assert "\n" not in str(error)


@pytest.mark.parametrize("hint", [None, "", " \n "])
def test_yaml_error_without_a_hint_has_none(hint: str | None) -> None:
    error = yaml_error("p.yaml", Mark(1, 1), "bad")
    assert error.diagnostic.hint is None
    blank = yaml_error("p.yaml", Mark(1, 1), "bad", hint=hint)
    assert not blank.diagnostic.hint
    assert str(blank) == "p.yaml:1:1: (root): bad"


def test_yaml_error_is_an_input_error_carrying_its_diagnostic() -> None:
    diagnostic = Diagnostic("f.yaml", 9, 2, (0,), "duplicate key", "remove one")
    error = YamlError(diagnostic)
    assert isinstance(error, InputError)
    assert error.exit_code == 2
    assert error.diagnostic is diagnostic
    assert str(error) == diagnostic.render()
    with pytest.raises(YamlError) as caught:
        raise error
    assert caught.value.diagnostic.line == 9
