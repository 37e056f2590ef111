"""The composer, through `parse_yaml`: data, positions, hints, duplicates, aliases, limits."""

from __future__ import annotations

import subprocess
import sys

import pytest
from yaml.events import Event

from osbundle.yaml import reader
from osbundle.yaml.compose import EventSource, compose
from osbundle.yaml.document import MAX_DEPTH, MAX_NODES, Mark, YamlDocument
from tests.yaml_helpers import BACKENDS, at, fails, parse, select_backend


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with libyaml's parser, and again with PyYAML's pure-Python one."""
    return select_backend(request.param, monkeypatch)


PROFILE = """\
id: "win2016|core"
name: demo
os:
  family: windows
  release: "2016"
drivers:
  - drivers/intel
  - source: drivers/b.zip
    dest: b
"""


def test_block_style_value_and_key_positions(backend: str) -> None:
    doc = parse(PROFILE)
    assert doc.data == {
        "id": "win2016|core",
        "name": "demo",
        "os": {"family": "windows", "release": "2016"},
        "drivers": ["drivers/intel", {"source": "drivers/b.zip", "dest": "b"}],
    }
    assert doc.marks == {
        (): Mark(1, 1),
        ("id",): Mark(1, 5),
        ("name",): Mark(2, 7),
        ("os",): Mark(4, 3),
        ("os", "family"): Mark(4, 11),
        ("os", "release"): Mark(5, 12),
        ("drivers",): Mark(7, 3),
        ("drivers", 0): Mark(7, 5),
        ("drivers", 1): Mark(8, 5),
        ("drivers", 1, "source"): Mark(8, 13),
        ("drivers", 1, "dest"): Mark(9, 11),
    }
    assert doc.key_marks == {
        ("id",): Mark(1, 1),
        ("name",): Mark(2, 1),
        ("os",): Mark(3, 1),
        ("os", "family"): Mark(4, 3),
        ("os", "release"): Mark(5, 3),
        ("drivers",): Mark(6, 1),
        ("drivers", 1, "source"): Mark(8, 5),
        ("drivers", 1, "dest"): Mark(9, 5),
    }
    assert doc.problems == ()
    assert doc.ambiguous == {}
    assert doc.file == "p.yaml"


def test_flow_style_value_and_key_positions(backend: str) -> None:
    doc = parse('a: {b: [1, "x", {c: null}], d: []}\n')
    assert doc.data == {"a": {"b": [1, "x", {"c": None}], "d": []}}
    assert doc.marks == {
        (): Mark(1, 1),
        ("a",): Mark(1, 4),
        ("a", "b"): Mark(1, 8),
        ("a", "b", 0): Mark(1, 9),
        ("a", "b", 1): Mark(1, 12),
        ("a", "b", 2): Mark(1, 17),
        ("a", "b", 2, "c"): Mark(1, 21),
        ("a", "d"): Mark(1, 32),
    }
    assert doc.key_marks == {
        ("a",): Mark(1, 1),
        ("a", "b"): Mark(1, 5),
        ("a", "b", 2, "c"): Mark(1, 18),
        ("a", "d"): Mark(1, 29),
    }


def test_columns_count_characters_not_bytes(backend: str) -> None:
    doc = parse("ééé: [ü, x]\n")
    assert doc.key_marks[("ééé",)] == Mark(1, 1)
    assert doc.marks[("ééé", 1)] == Mark(1, 10)


def test_bom_is_accepted_and_not_counted(backend: str) -> None:
    doc = parse(b"\xef\xbb\xbfa: 1\nb: 2\n")
    assert doc.data == {"a": 1, "b": 2}
    assert doc.key_marks[("a",)] == Mark(1, 1)
    assert doc.marks[("b",)] == Mark(2, 4)


def test_block_scalars_and_crlf(backend: str) -> None:
    doc = parse("a: |\r\n  one\r\n  two\r\nb: >-\r\n  x\r\n  y\r\nc: 1\r\n")
    assert doc.data == {"a": "one\ntwo\n", "b": "x y", "c": 1}
    assert doc.marks[("c",)] == Mark(7, 4)


def test_mark_for_falls_back_to_nearest_ancestor() -> None:
    doc = parse("a:\n  b: [1, 2]\n")
    assert doc.mark_for(("a", "b", 1)) == Mark(2, 10)
    assert doc.mark_for(("a", "b", 7, "x")) == Mark(2, 6)
    assert doc.mark_for(("zzz",)) == Mark(1, 1)
    empty = YamlDocument("f", None, {}, {}, {}, ())
    assert empty.mark_for(("a",)) == Mark(1, 1)


def test_scalars_follow_yaml_12_core_schema(backend: str) -> None:
    doc = parse(
        "t: true\nf: False\nn: ~\ne:\ni: -12\nh: 0x1f\no: 0o17\nfl: 1.5\ninf: -.inf\n"
        "q: 'true'\ndq: \"12\"\nblk: |\n  12\n"
    )
    assert doc.data == {
        "t": True,
        "f": False,
        "n": None,
        "e": None,
        "i": -12,
        "h": 31,
        "o": 15,
        "fl": 1.5,
        "inf": float("-inf"),
        "q": "true",
        "dq": "12",
        "blk": "12\n",
    }


SURPRISES = [
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "N",
    "0644",
    "012",
    "12:30",
    "1:20:30",
    "2024-01-01",
    "0b101",
    "1_000",
]


@pytest.mark.parametrize("text", SURPRISES)
def test_yaml11_surprises_stay_strings_and_get_a_hint(text: str, backend: str) -> None:
    doc = parse(f"top:\n  value: {text}\n  items: [{text}]\n  quoted: '{text}'\n")
    assert doc.data == {"top": {"value": text, "items": [text], "quoted": text}}
    hint = doc.ambiguous[("top", "value")]
    assert f"`{text}`" in hint
    assert "quote it" in hint
    assert ("top", "items", 0) in doc.ambiguous
    assert ("top", "quoted") not in doc.ambiguous


def test_octal_hint_names_the_value() -> None:
    hint = parse("mode: 0644\n").ambiguous[("mode",)]
    assert hint == (
        "YAML 1.1 reads `0644` as the octal number 420: quote it to keep the string, "
        "or write 0o644 / 420"
    )


def test_explicit_standard_tags(backend: str) -> None:
    doc = parse("a: !!str 12\nb: !!int '7'\nc: !!float 1\nd: !!bool 'true'\ne: !!null ''\nf: ! 5\n")
    assert doc.data == {"a": "12", "b": 7, "c": 1.0, "d": True, "e": None, "f": "5"}
    assert parse("!!map {a: !!seq [1]}").data == {"a": [1]}


@pytest.mark.parametrize(
    ("text", "fragment", "where"),
    [
        ("a: !!binary aGk=\n", "unsupported tag `!!binary`", (1, 4)),
        ("a: !local x\n", "unsupported tag `!local`", (1, 4)),
        ("a:\n  - !!set {x: null}\n", "unsupported tag `!!set`", (2, 5)),
        ("a: !!seq {x: 1}\n", "only !!map fits", (1, 4)),
        ("a: !!int abc\n", "not a valid !!int", (1, 4)),
        ("a: !!bool yes\n", "not a valid !!bool", (1, 4)),
        ("!!binary k: 1\n", "unsupported tag", (1, 1)),
    ],
)
def test_other_tags_are_errors(text: str, fragment: str, where: tuple[int, int]) -> None:
    error = fails(text)
    assert fragment in error.diagnostic.message
    assert at(error) == where


def test_keys_are_the_scalar_text(backend: str) -> None:
    doc = parse("1: a\ntrue: b\nnull: c\n~: d\n0x10: e\n'q': f\n? \n: g\n")
    assert doc.data == {
        "1": "a",
        "true": "b",
        "null": "c",
        "~": "d",
        "0x10": "e",
        "q": "f",
        "": "g",
    }
    assert all(isinstance(key, str) for key in doc.data)


@pytest.mark.parametrize(
    ("text", "where"),
    [("? [a, b]\n: 1\n", (1, 3)), ("{[a]: 1}\n", (1, 2)), ("a:\n  ? {b: 1}\n  : 2\n", (2, 5))],
)
def test_non_scalar_keys_are_errors(text: str, where: tuple[int, int], backend: str) -> None:
    error = fails(text)
    assert "key must be a scalar" in error.diagnostic.message
    assert at(error) == where


def test_duplicate_keys_name_both_lines_and_keep_the_first(backend: str) -> None:
    doc = parse("name: first\nos:\n  family: rhel\n  family: sles\nname: second\nname: [third]\n")
    assert doc.data == {"name": "first", "os": {"family": "rhel"}}
    rendered = [problem.render() for problem in doc.problems]
    assert rendered == [
        "p.yaml:4:3: os.family: duplicate key `family` (first defined at line 3)"
        " (hint: remove one of them; the first one is used)",
        "p.yaml:5:1: name: duplicate key `name` (first defined at line 1)"
        " (hint: remove one of them; the first one is used)",
        "p.yaml:6:1: name: duplicate key `name` (first defined at line 1)"
        " (hint: remove one of them; the first one is used)",
    ]
    assert doc.marks[("name",)] == Mark(1, 7)
    assert doc.key_marks[("name",)] == Mark(1, 1)
    assert ("name", 0) not in doc.marks


def test_anchor_inside_a_discarded_duplicate_value_still_works(backend: str) -> None:
    doc = parse("a: 1\na: &x {b: [1, 2]}\nc: *x\n")
    assert doc.data == {"a": 1, "c": {"b": [1, 2]}}
    assert doc.marks[("c",)] == Mark(3, 4)
    assert doc.mark_for(("c", "b", 1)) == Mark(3, 4)
    assert len(doc.problems) == 1


def test_duplicate_keys_in_flow_mappings(backend: str) -> None:
    doc = parse("{a: 1, b: 2, a: 3}")
    assert doc.data == {"a": 1, "b": 2}
    assert [(p.line, p.col, p.path) for p in doc.problems] == [(1, 14, ("a",))]


def test_merge_key_is_an_ordinary_key_with_a_hint(backend: str) -> None:
    doc = parse("base: &b {x: 1}\nitem:\n  <<: *b\n  y: 2\n")
    assert doc.data == {"base": {"x": 1}, "item": {"<<": {"x": 1}, "y": 2}}
    assert "merge keys are not supported" in doc.ambiguous[("item", "<<")]


def test_aliases_share_objects_and_copy_positions(backend: str) -> None:
    doc = parse("a: &x\n  k: [yes]\nb: *x\nc: &s 0644\nd: *s\n")
    assert doc.data == {"a": {"k": ["yes"]}, "b": {"k": ["yes"]}, "c": "0644", "d": "0644"}
    assert doc.data["a"] is doc.data["b"]
    assert doc.marks[("b",)] == Mark(3, 4)
    assert doc.marks[("b", "k", 0)] == doc.marks[("a", "k", 0)] == Mark(2, 7)
    assert doc.key_marks[("b", "k")] == Mark(2, 3)
    assert ("b", "k", 0) in doc.ambiguous
    assert ("d",) in doc.ambiguous


def test_scalar_alias_as_key(backend: str) -> None:
    assert parse("- &k 12\n- {*k : v}\n").data == [12, {"12": "v"}]
    error = fails("- &m {a: 1}\n- {*m : v}\n")
    assert "key must be a scalar" in error.diagnostic.message


@pytest.mark.parametrize(
    ("text", "fragment", "where"),
    [
        ("a: *nope\n", "undefined alias `*nope`", (1, 4)),
        ("a: &r [1, *r]\n", "recursive alias `*r`", (1, 11)),
        ("a: &r {b: {c: *r}}\n", "recursive alias `*r`", (1, 15)),
    ],
)
def test_bad_aliases(text: str, fragment: str, where: tuple[int, int], backend: str) -> None:
    error = fails(text)
    assert fragment in error.diagnostic.message
    assert at(error) == where


def billion_laughs(levels: int = 30) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_fails_fast(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    events = count_events(monkeypatch)
    error = fails(billion_laughs())
    assert error.diagnostic.message.startswith("alias expansion too large")
    assert error.diagnostic.line == 6  # 9**5 nodes is where 100,000 is crossed
    # The stream, document and mapping starts, 12 events on each of lines 1-5, and on line 6 its
    # key, its list and the first alias: aliases count by size without being expanded.
    assert events == [3 + 5 * 12 + 3]


def count_events(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many parser events each document the reader composes consumes, filled in as it goes."""
    counts: list[int] = []

    def counting(source: EventSource, file: str) -> YamlDocument:
        counts.append(0)

        class Counted:
            def get_event(self) -> Event | None:
                counts[-1] += 1
                return source.get_event()

        return compose(Counted(), file)  # the real one

    monkeypatch.setattr(reader, "compose", counting)
    return counts


def test_node_limit_without_aliases() -> None:
    assert len(parse("[" + "0," * (MAX_NODES - 2) + "0]").data) == MAX_NODES - 1
    error = fails("[" + "0," * MAX_NODES + "0]")
    assert f"more than {MAX_NODES} nodes" in error.diagnostic.message


def nested(depth: int, style: str) -> str:
    if style == "flow-seq":
        return "[" * depth + "]" * depth
    if style == "flow-map":
        return "{a: " * depth + "1" + "}" * depth
    if style == "block-seq":
        return "- " * depth + "x\n"
    return "".join(f"{'  ' * level}a:\n" for level in range(depth)) + "  " * depth + "x\n"


@pytest.mark.parametrize("style", ["flow-seq", "flow-map", "block-seq", "block-map"])
def test_depth_limit_is_exact(style: str, backend: str) -> None:
    doc = parse(nested(MAX_DEPTH, style))
    assert len(max(doc.marks, key=len)) >= MAX_DEPTH - 1
    error = fails(nested(MAX_DEPTH + 1, style))
    assert "nesting too deep" in error.diagnostic.message


def test_depth_error_names_line_and_column(backend: str) -> None:
    error = fails(nested(MAX_DEPTH + 1, "block-map"))
    assert at(error) == (MAX_DEPTH + 1, 2 * MAX_DEPTH + 1)
    error = fails(nested(MAX_DEPTH + 1, "block-seq"))
    assert at(error) == (1, 2 * MAX_DEPTH + 1)


def test_aliases_count_towards_depth(backend: str) -> None:
    deep = nested(MAX_DEPTH - 1, "flow-seq")
    assert parse(f"a: &d {deep}\n").data is not None
    error = fails(f"a: &d {deep}\nb: [*d]\n")
    assert "nesting too deep" in error.diagnostic.message


@pytest.mark.parametrize(
    ("depth", "style"),
    [
        (50_000, "flow-seq"),
        (50_000, "flow-map"),
        (50_000, "block-seq"),
        (700, "block-map"),  # indentation grows with depth: 700 levels is already 490 KB
    ],
)
def test_very_deep_nesting_raises_yaml_error(depth: int, style: str, backend: str) -> None:
    error = fails(nested(depth, style))
    assert "nesting too deep" in error.diagnostic.message


def test_deep_block_sequence_of_mappings(backend: str) -> None:
    text = "".join(f"{' ' * (2 * level)}- a:\n" for level in range(400)) + " " * 800 + "x\n"
    assert "nesting too deep" in fails(text).diagnostic.message


DEEP_SCRIPT = """
import sys
from osbundle.yaml import reader
if sys.argv[1] == "python":
    reader._C_LOADER = None
text = {"flow": "[" * 50_000 + "]" * 50_000, "block": "- " * 50_000 + "x"}[sys.argv[2]]
try:
    reader.parse_yaml(text.encode(), "deep.yaml")
except reader.YamlError as exc:
    print("YamlError:", exc)
"""


@pytest.mark.parametrize("style", ["flow", "block"])
@pytest.mark.parametrize("parser", BACKENDS)
def test_50000_levels_do_not_crash_the_interpreter(style: str, parser: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", DEEP_SCRIPT, parser, style],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("YamlError: deep.yaml:1:")
    assert "nesting too deep" in result.stdout


def test_multiple_documents_are_an_error(backend: str) -> None:
    error = fails("a: 1\n---\nb: 2\n")
    assert at(error) == (2, 1)
    assert "second YAML document" in error.diagnostic.message
    assert at(fails("--- 1\n--- 2\n")) == (2, 1)
    assert parse("---\na: 1\n...\n").data == {"a": 1}


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "\ufeff"])
def test_empty_file_gives_none(text: str, backend: str) -> None:
    doc = parse(text)
    assert doc.data is None
    assert doc.mark_for(()) == Mark(1, 1)


def test_yaml_version_directive_is_a_warning(backend: str) -> None:
    doc = parse("%YAML 1.1\n---\non: yes\n")
    assert doc.data == {"on": "yes"}
    [warning] = doc.problems
    assert warning.severity == "warning"
    assert "%YAML 1.1" in warning.message
