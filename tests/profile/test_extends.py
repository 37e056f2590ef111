"""`profile/extends.py`: load_merged, Locator, merge_into, cycles, base problems, origins."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.errors import InputError
from osbundle.profile.extends import (
    Layer,
    Located,
    Locator,
    diag_at,
    load_merged,
    merge_into,
    profile_file,
)
from osbundle.profile.load import check_profile
from osbundle.yaml.document import YamlDocument
from osbundle.yaml.reader import load_yaml as real_load
from osbundle.yaml.reader import parse_yaml

HEAD = {"id": "a|b", "name": "p", "os": {"family": "rhel", "release": "9", "arch": "x86_64"}}


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


class QuotedStrings(yaml.SafeDumper):
    """Every string double-quoted: PyYAML writes YAML 1.1, which leaves strings such as `0E0`
    plain that YAML 1.2 (what osbundle reads) resolves as numbers."""


QuotedStrings.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
)


def write_quoted(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(doc, Dumper=QuotedStrings, allow_unicode=True), encoding="utf-8")
    return path


def layer(text: str, display: str = "f.yaml") -> Layer:
    """A layer parsed from `text`, as if read from a file shown as `display`."""
    return Layer(Path(display), display, parse_yaml(text.encode(), display))


def test_extends_merges_and_keeps_origins(tmp_path: Path) -> None:
    write(
        tmp_path / "base" / "profile.yaml",
        {
            "description": "base",
            "os": {"family": "rhel", "release": "8", "arch": "x86_64"},
            "install": {"locale": "en_US", "timeZone": "UTC"},
            "scripts": ["harden.sh"],
        },
    )
    write(
        tmp_path / "child" / "profile.yaml",
        {
            "extends": "../base",
            "id": "a|b",
            "name": "child",
            "os": {"release": "9"},
            "install": {"timeZone": "Europe/Berlin"},
            "scripts": [{"source": "web.sh", "phase": "pre"}],
        },
    )
    report = check_profile(tmp_path / "child")
    assert report.diagnostics == ()
    profile = report.profile
    assert profile is not None
    assert profile.description == "base"
    assert profile.os.release == "9"
    assert profile.os.family == "rhel"
    assert profile.install == {"locale": "en_US", "timeZone": "Europe/Berlin"}
    assert "extends" not in profile.document
    harden, web = profile.entries
    assert harden.base_dir.resolve() == (tmp_path / "base").resolve()
    assert web.base_dir == tmp_path / "child"
    assert harden.position is not None
    assert str(harden.position.file).endswith("base/profile.yaml")
    assert report.locate is not None
    assert report.locate(("install", "locale")).file.as_posix().endswith("base/profile.yaml")
    assert report.locate(("install", "timeZone")).file.as_posix().endswith("child/profile.yaml")


def test_extends_problems(tmp_path: Path) -> None:
    write(tmp_path / "profile.yaml", {**HEAD, "extends": "nowhere"})
    report = check_profile(tmp_path)
    assert [d.message for d in report.diagnostics] == ["no profile at 'nowhere'"]
    write(tmp_path / "profile.yaml", {**HEAD, "extends": "."})
    (message,) = [d.message for d in check_profile(tmp_path).diagnostics]
    assert message.startswith("extends cycle: ")
    write(tmp_path / "profile.yaml", {**HEAD, "extends": 5})
    (diag,) = check_profile(tmp_path).diagnostics
    assert diag.path == ("extends",)
    write(tmp_path / "b" / "profile.yaml", ["not", "a", "mapping"])
    write(tmp_path / "profile.yaml", {**HEAD, "extends": "b"})
    (diag,) = check_profile(tmp_path, "profile.yaml").diagnostics
    assert (diag.file, diag.message) == ("b/profile.yaml", "a base profile must be a mapping")


def test_a_chain_of_three_merges_every_layer_and_lists_them_top_first(tmp_path: Path) -> None:
    write(tmp_path / "grand" / "profile.yaml", {"a": "grand", "files": ["g"], "m": {"x": 1}})
    write(
        tmp_path / "base" / "profile.yaml",
        {"extends": "../grand", "b": "base", "files": ["b"], "m": {"y": 2}},
    )
    write(
        tmp_path / "child" / "profile.yaml",
        {"extends": "../base", "c": "child", "files": ["c"], "m": {"x": 3}},
    )
    merged = load_merged(tmp_path / "child" / "profile.yaml", "child/profile.yaml")
    assert merged.diagnostics == ()
    assert merged.data == {
        "a": "grand",
        "files": ["g", "b", "c"],
        "m": {"x": 3, "y": 2},
        "b": "base",
        "c": "child",
    }
    assert [lay.display for lay in merged.layers] == [
        "child/profile.yaml",
        "base/profile.yaml",
        "grand/profile.yaml",
    ]
    where = {
        path: (merged.locator.locate(path).file, merged.locator.locate(path).path)
        for path in [("a",), ("b",), ("c",), ("files", 0), ("files", 1), ("files", 2)]
    }
    assert where == {
        ("a",): ("grand/profile.yaml", ("a",)),
        ("b",): ("base/profile.yaml", ("b",)),
        ("c",): ("child/profile.yaml", ("c",)),
        ("files", 0): ("grand/profile.yaml", ("files", 0)),
        ("files", 1): ("base/profile.yaml", ("files", 0)),
        ("files", 2): ("child/profile.yaml", ("files", 0)),
    }
    assert merged.locator.locate(("m", "x")).file == "child/profile.yaml"
    assert merged.locator.locate(("m", "y")).file == "base/profile.yaml"


def test_keys_keep_the_base_order_then_the_child_s_new_ones(tmp_path: Path) -> None:
    write(tmp_path / "base" / "profile.yaml", {"z": 1, "a": {"q": 1, "p": 1}, "m": 1})
    write(tmp_path / "profile.yaml", {"n": 2, "extends": "base", "a": {"r": 2, "p": 2}, "z": 2})
    data = load_merged(tmp_path / "profile.yaml", "profile.yaml").data
    assert list(data) == ["z", "a", "m", "n"]
    assert list(data["a"]) == ["q", "p", "r"]
    assert data == {"z": 2, "a": {"q": 1, "p": 2, "r": 2}, "m": 1, "n": 2}


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("../base", "base/profile.yaml"),
        ("../base/", "base/profile.yaml"),
        ("../base/profile.yaml", "base/profile.yaml"),
        ("../base/./other.yaml", "base/other.yaml"),
    ],
)
def test_a_base_is_shown_beside_the_file_that_extends_it(
    tmp_path: Path, target: str, shown: str
) -> None:
    write(tmp_path / "base" / "profile.yaml", {"from": "profile"})
    write(tmp_path / "base" / "other.yaml", {"from": "other"})
    write(tmp_path / "child" / "profile.yaml", {"extends": target})
    merged = load_merged(tmp_path / "child" / "profile.yaml", "child/profile.yaml")
    assert merged.diagnostics == ()
    assert [lay.display for lay in merged.layers] == ["child/profile.yaml", shown]
    assert merged.data == {"from": Path(shown).stem}
    assert merged.locator.locate(("from",)).file == shown


def test_a_cycle_names_the_whole_chain_at_the_extends_that_closes_it(tmp_path: Path) -> None:
    for name, target in [("a", "../b"), ("b", "../c"), ("c", "../a")]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "profile.yaml").write_text(f"name: {name}\nextends: {target}\n")
    merged = load_merged(tmp_path / "a" / "profile.yaml", "a/profile.yaml")
    (diag,) = merged.diagnostics
    assert diag.message == (
        "extends cycle: a/profile.yaml -> b/profile.yaml -> c/profile.yaml -> a/profile.yaml"
    )
    assert (diag.file, diag.line, diag.col, diag.path) == ("c/profile.yaml", 2, 10, ("extends",))
    assert merged.data == {"name": "a"}  # merged down the chain, the cycle's own link cut


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5", "5 is not a non-empty string"),
        ('""', "'' is not a non-empty string"),
        ("[a]", "['a'] is not a non-empty string"),
        ("null", "None is not a non-empty string"),
    ],
)
def test_extends_must_be_a_non_empty_string(tmp_path: Path, value: str, message: str) -> None:
    (tmp_path / "profile.yaml").write_text(f"name: p\nextends: {value}\n")
    merged = load_merged(tmp_path / "profile.yaml", "profile.yaml")
    (diag,) = merged.diagnostics
    assert (diag.file, diag.line, diag.col, diag.path, diag.message) == (
        "profile.yaml",
        2,
        10,
        ("extends",),
        message,
    )
    assert merged.data == {"name": "p"}  # `extends` itself is never part of the data


def test_a_directory_without_a_profile_is_no_profile(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "profile.yaml").mkdir()  # not a file either
    (tmp_path / "profile.yaml").write_text("extends: empty\n")
    merged = load_merged(tmp_path / "profile.yaml", "profile.yaml")
    assert [d.message for d in merged.diagnostics] == ["no profile at 'empty'"]
    assert merged.data == {}


def test_a_base_that_does_not_parse_is_reported_in_the_base(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "profile.yaml").write_text("ok: 1\nid: [\n")
    (tmp_path / "profile.yaml").write_text("extends: base\nname: child\n")
    merged = load_merged(tmp_path / "profile.yaml", "profile.yaml")
    (diag,) = merged.diagnostics
    assert diag.file == "base/profile.yaml"
    assert diag.message.startswith("invalid YAML: ")
    assert merged.data == {"name": "child"}  # the child's own data, without the failed base
    assert [lay.display for lay in merged.layers] == ["profile.yaml"]
    assert merged.locator.locate(("name",)).file == "profile.yaml"


def test_a_base_over_the_size_limit_is_a_diagnostic_not_an_exception(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "profile.yaml").write_bytes(b"#" * (1024 * 1024 + 1))
    (tmp_path / "profile.yaml").write_text("extends: base\n")
    (diag,) = load_merged(tmp_path / "profile.yaml", "profile.yaml").diagnostics
    assert diag.file == "base/profile.yaml"
    assert diag.message.startswith("file is too large: ")


def test_an_empty_base_is_not_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "profile.yaml").write_text("# nothing but a comment\n")
    (tmp_path / "profile.yaml").write_text("extends: base\nname: child\n")
    merged = load_merged(tmp_path / "profile.yaml", "profile.yaml")
    (diag,) = merged.diagnostics
    assert (diag.file, diag.line, diag.col, diag.path, diag.message) == (
        "base/profile.yaml",
        1,
        1,
        (),
        "a base profile must be a mapping",
    )
    assert merged.data == {"name": "child"}


def test_warnings_and_problems_of_a_base_are_kept(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "profile.yaml").write_text("%YAML 1.1\n---\na: 1\na: 2\nb: 3\n")
    (tmp_path / "profile.yaml").write_text("extends: base\nc: 4\n")
    merged = load_merged(tmp_path / "profile.yaml", "profile.yaml")
    assert [(d.file, d.severity, d.message) for d in merged.diagnostics] == [
        ("base/profile.yaml", "warning", "`%YAML 1.1` is ignored: osbundle reads YAML 1.2"),
        ("base/profile.yaml", "error", "duplicate key `a` (first defined at line 3)"),
    ]
    assert merged.data == {"a": 1, "b": 3, "c": 4}


def test_an_unreadable_base_is_a_problem_of_the_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "base" / "profile.yaml", {"a": 1})
    write(tmp_path / "profile.yaml", {"extends": "base", "b": 2})

    def load_yaml(path: Path, display: str | None = None) -> YamlDocument:
        if display == "base/profile.yaml":
            raise InputError("boom")
        return real_load(path, display)

    monkeypatch.setattr("osbundle.profile.extends.load_yaml", load_yaml)
    merged = load_merged(tmp_path / "profile.yaml", "profile.yaml")
    (diag,) = merged.diagnostics
    assert (diag.file, diag.path, diag.message) == (
        "profile.yaml",
        ("extends",),
        "cannot read base profile: boom",
    )
    assert merged.data == {"b": 2}


def test_a_top_level_that_is_not_a_mapping_is_returned_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "profile.yaml").write_text("- a\n- extends\n")
    merged = load_merged(tmp_path / "profile.yaml", "profile.yaml")
    assert (merged.data, merged.diagnostics) == (["a", "extends"], ())
    assert [lay.display for lay in merged.layers] == ["profile.yaml"]
    located = merged.locator.locate((1,))
    assert (located.file, located.path, located.value_mark().line) == ("profile.yaml", (1,), 2)


def test_a_top_file_that_does_not_parse_has_no_data_and_no_layers(tmp_path: Path) -> None:
    (tmp_path / "profile.yaml").write_text("id: [\n")
    merged = load_merged(tmp_path / "profile.yaml", "shown.yaml")
    assert merged.data is None
    assert merged.layers == ()
    assert [d.file for d in merged.diagnostics] == ["shown.yaml"]
    with pytest.raises(KeyError):
        merged.locator.locate(())


def test_the_cache_is_filled_and_used(tmp_path: Path) -> None:
    write(tmp_path / "base" / "profile.yaml", {"a": 1})
    write(tmp_path / "profile.yaml", {"extends": "base"})
    cache: dict[tuple[str, str], YamlDocument] = {}
    assert load_merged(tmp_path / "profile.yaml", "profile.yaml", cache).data == {"a": 1}
    assert set(cache) == {
        (os.path.realpath(tmp_path / "profile.yaml"), "profile.yaml"),
        (os.path.realpath(tmp_path / "base" / "profile.yaml"), "base/profile.yaml"),
    }
    write(tmp_path / "base" / "profile.yaml", {"a": 2})
    assert load_merged(tmp_path / "profile.yaml", "profile.yaml", cache).data == {"a": 1}
    assert load_merged(tmp_path / "profile.yaml", "profile.yaml").data == {"a": 2}


def test_profile_file_names_the_profile_yaml_of_a_directory(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("{}\n")
    assert profile_file(tmp_path) == tmp_path / "profile.yaml"
    assert profile_file(tmp_path / "other.yaml") == tmp_path / "other.yaml"
    assert profile_file(tmp_path / "missing.yaml") == tmp_path / "missing.yaml"


def test_locator_takes_the_longest_recorded_prefix() -> None:
    top, base = layer("a:\n  b: 1\n", "top.yaml"), layer("x:\n  - 1\n", "base.yaml")
    locator = Locator({(): (top, ())})
    locator.roots[("a",)] = (base, ("x",))
    assert locator.locate(("a", "b", 0)) == Located(base, ("x", "b", 0))
    assert locator.locate(("q",)) == Located(top, ("q",))
    with pytest.raises(KeyError):
        Locator().locate(("a",))


def test_locator_replace_drops_what_was_below_and_pin_keeps_an_origin() -> None:
    top, base = layer("a: 1\n", "top.yaml"), layer("a: 2\n", "base.yaml")
    locator = Locator({(): (base, ())})
    locator.roots[("a", "deep")] = (base, ("elsewhere",))
    locator.pin(("keep",))
    locator.replace(("a",), top, ("moved",))
    assert ("a", "deep") not in locator.roots
    assert locator.locate(("a", "deep")) == Located(top, ("moved", "deep"))
    locator.replace((), top, ())
    assert locator.roots == {(): (top, ())}
    locator = Locator({(): (base, ())})
    locator.pin(("keep",))
    locator.roots[()] = (top, ())  # the ancestor re-rooted: the pinned path still says base
    assert locator.locate(("keep", 1)) == Located(base, ("keep", 1))


def test_located_marks_hints_and_diagnostics() -> None:
    lay = layer("a: yes\nlist:\n  - 0644\n", "f.yaml")
    key = Located(lay, ("a",))
    assert (key.key_mark().line, key.key_mark().col) == (1, 1)
    assert (key.value_mark().line, key.value_mark().col) == (1, 4)
    item = Located(lay, ("list", 0))
    assert item.key_mark() == item.value_mark()  # a list item has no key: its value's mark
    assert (item.value_mark().line, item.value_mark().col) == (3, 5)
    assert "0644" in (item.hint() or "")
    assert Located(lay, ("list",)).hint() is None
    diag = diag_at(key, "bad", "fix it")
    assert (diag.file, diag.line, diag.col, diag.path, diag.message, diag.hint) == (
        "f.yaml",
        1,
        4,
        ("a",),
        "bad",
        "fix it",
    )


def test_merge_into_replaces_a_node_of_another_type_whole() -> None:
    base = layer("m: {x: 1, y: [1, 2]}\nl: [1, 2]\ns: 1\n", "base.yaml")
    child = layer("m: 5\nl: {k: v}\ns: [9]\n", "child.yaml")
    locator = Locator({(): (base, ())})
    merged = merge_into(base.doc.data, child.doc.data, locator, child)
    assert merged == {"m": 5, "l": {"k": "v"}, "s": [9]}
    for path in [("m",), ("l", "k"), ("s", 0)]:
        assert locator.locate(path) == Located(child, path)
    assert ("m", "y") not in locator.roots


def test_merge_into_appends_lists_and_locates_every_item() -> None:
    base = layer("l: [a, b]\n", "base.yaml")
    child = layer("l: [c]\n", "child.yaml")
    locator = Locator({(): (base, ())})
    assert merge_into(base.doc.data, child.doc.data, locator, child) == {"l": ["a", "b", "c"]}
    assert [locator.locate(("l", i)) for i in range(3)] == [
        Located(base, ("l", 0)),
        Located(base, ("l", 1)),
        Located(child, ("l", 0)),
    ]
    assert locator.locate(("l",)) == Located(child, ("l",))  # a merged container: the child's


LEAVES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from("abcd"), children, max_size=3)
    ),
    max_leaves=8,
)
DOCS = st.dictionaries(st.sampled_from(["description", "install", "files", "x"]), LEAVES)


def _expected_merge(base: Any, child: Any) -> Any:
    if isinstance(base, dict) and isinstance(child, dict):
        out = dict(base)
        for key, value in child.items():
            out[key] = _expected_merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(child, list):
        return base + child
    return child


@settings(max_examples=60, deadline=None)
@given(DOCS, DOCS)
def test_merge_and_origins_property(base: dict[str, Any], child: dict[str, Any]) -> None:
    """Merged data follows the rules, and every scalar's origin holds that same scalar.

    (A merged container's own mark is the child's, so only leaves are compared.)
    """
    from osbundle.profile.extends import load_merged

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_quoted(root / "base" / "profile.yaml", base)
        write_quoted(root / "profile.yaml", {**child, "extends": "base"})
        merged = load_merged(root / "profile.yaml", "profile.yaml")
        assert merged.diagnostics == ()
        assert merged.data == _expected_merge(base, child)
        for path, value in _nodes(merged.data):
            if isinstance(value, dict | list):
                continue
            origin = merged.locator.locate(path)
            assert _get(origin.layer.doc.data, origin.path) == value


def _nodes(node: Any, path: tuple[str | int, ...] = ()) -> Any:
    yield path, node
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, value in items:
        yield from _nodes(value, (*path, key))


def _get(node: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@dataclass(frozen=True)
class Wrote:
    """A leaf, tagged with the index (in `Merged.layers`) of the layer that wrote it."""

    layer: int
    value: Any


def _tagged(node: Any, index: int) -> Any:
    if isinstance(node, dict):
        return {k: _tagged(v, index) for k, v in node.items()}
    if isinstance(node, list):
        return [_tagged(v, index) for v in node]
    return Wrote(index, node)


@settings(max_examples=60, deadline=None)
@given(DOCS, DOCS, DOCS)
def test_every_leaf_is_located_in_the_layer_that_wrote_it(
    grand: dict[str, Any], base: dict[str, Any], child: dict[str, Any]
) -> None:
    """Three layers: each scalar of the merged document is located in the layer whose value
    won (by the merge rules), at a path in that layer holding that very value."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_quoted(root / "grand" / "profile.yaml", grand)
        write_quoted(root / "base" / "profile.yaml", {**base, "extends": "../grand"})
        write_quoted(root / "child" / "profile.yaml", {**child, "extends": "../base"})
        merged = load_merged(root / "child" / "profile.yaml", "child/profile.yaml")
    assert merged.diagnostics == ()
    assert len(merged.layers) == 3
    assert merged.data == _expected_merge(_expected_merge(grand, base), child)
    expected = _expected_merge(
        _expected_merge(_tagged(grand, 2), _tagged(base, 1)), _tagged(child, 0)
    )
    for path, wrote in _nodes(expected):
        if not isinstance(wrote, Wrote):
            continue
        value = _get(merged.data, path)
        assert (type(value), value) == (type(wrote.value), wrote.value)
        origin = merged.locator.locate(path)
        assert origin.layer is merged.layers[wrote.layer], path
        at_origin = _get(origin.layer.doc.data, origin.path)
        assert (type(at_origin), at_origin) == (type(value), value)
