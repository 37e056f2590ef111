from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.cli.render import render_report
from osbundle.diagnostics import DocPath
from osbundle.errors import InputError
from osbundle.profile.validate import check_paths, discover_profiles
from tests.factory import PROFILES

EXAMPLES = PROFILES

# Per family and kind: a file name suffix that family accepts.
SUFFIXES: dict[str, dict[str, str]] = {
    "windows": {
        "driver": ".zip",
        "boot": ".wim",
        "unattend": ".xml",
        "script": ".ps1",
        "software": ".zip",
    },
    "rhel": {"driver": ".rpm", "unattend": ".cfg", "script": ".sh", "software": ".tar.gz"},
    "sles": {"driver": ".iso", "unattend": ".xml", "script": ".py", "software": ".tar.gz"},
    "ubuntu": {"driver": ".deb", "unattend": ".yaml", "script": ".pl", "software": ".deb"},
    "esxi": {"unattend": ".cfg", "script": ".sh", "software": ".vib"},
}
KEYS = {
    "driver": "drivers",
    "boot": "bootFiles",
    "unattend": "unattend",
    "script": "scripts",
    "software": "software",
    "settings": "settings",
    "file": "files",
}


def emit(doc: dict[str, Any]) -> tuple[str, dict[DocPath, int], dict[DocPath, int]]:
    """Block YAML with JSON scalars, plus the line of every value and every key."""
    lines: list[str] = []
    values: dict[DocPath, int] = {}
    keys: dict[DocPath, int] = {}

    def mapping(node: dict[str, Any], indent: str, path: DocPath) -> None:
        values[path] = len(lines) + 1
        for key, value in node.items():
            keys[(*path, key)] = len(lines) + 1
            if isinstance(value, dict | list) and value:
                lines.append(f"{indent}{key}:")
                block(value, indent + "  ", (*path, key))
            else:
                values[(*path, key)] = len(lines) + 1
                lines.append(f"{indent}{key}: {json.dumps(value, ensure_ascii=False)}")

    def block(node: Any, indent: str, path: DocPath) -> None:
        if isinstance(node, dict):
            mapping(node, indent, path)
            return
        for index, item in enumerate(node):
            if isinstance(item, dict) and item:
                lines.append(f"{indent}-")
                mapping(item, indent + "  ", (*path, index))
            else:
                values[(*path, index)] = len(lines) + 1
                lines.append(f"{indent}- {json.dumps(item, ensure_ascii=False)}")

    mapping(doc, "", ())
    return "\n".join(lines) + "\n", values, keys


@dataclass(frozen=True)
class Generated:
    doc: dict[str, Any]
    files: tuple[str, ...]


NAMES = st.from_regex(r"[a-z][a-z0-9_-]{0,6}", fullmatch=True)


@st.composite
def profiles(draw: st.DrawFn) -> Generated:
    family = draw(st.sampled_from(sorted(SUFFIXES)))
    doc: dict[str, Any] = {
        "id": f"{draw(NAMES)}|{draw(NAMES)}",
        "name": draw(st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}", fullmatch=True)),
        "os": {
            "family": family,
            "release": draw(st.sampled_from(["9.4", "2019", "24.04"])),
            "arch": draw(st.sampled_from(["x86_64", "aarch64"])),
        },
    }
    if draw(st.booleans()):
        doc["description"] = draw(
            st.text(st.characters(categories=("L", "N", "P", "Zs")), max_size=20)
        )
    files: list[str] = []
    counter = 0
    kinds = {**SUFFIXES[family], "settings": ".json", "file": ".bin"}
    for kind, suffix in kinds.items():
        items: list[Any] = []
        for _ in range(draw(st.integers(0, 2))):
            counter += 1
            stem = f"{draw(NAMES)}{counter}"
            path = f"{kind}/{stem}{suffix}"
            files.append(path)
            if draw(st.booleans()):
                items.append(path)
                continue
            item: dict[str, Any] = {"source": path}
            if draw(st.booleans()):
                item["dest"] = draw(NAMES)
            if kind == "script" and draw(st.booleans()):
                item["phase"] = draw(st.sampled_from(["pre", "post"]))
            if kind in ("script", "unattend") and draw(st.booleans()):
                item["render"] = draw(st.booleans())
            items.append(item)
        if items:
            doc[KEYS[kind]] = items
    if draw(st.booleans()):
        doc["install"] = {
            "locale": "en-US",
            "targetDisk": draw(st.sampled_from(["raid", "m2"])),
            "extraOption": draw(st.integers(0, 9)),
        }
    return Generated(doc, tuple(files))


def materialise(root: Path, generated: Generated, text: str) -> Path:
    for name in generated.files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        # An XML unattend file must be XML: the build renders it, and validate does too.
        content = {".json": "{}", ".xml": "<unattend/>\n"}.get(path.suffix, "plain\n")
        path.write_text(content, encoding="utf-8")
    (root / "profile.yaml").write_text(text, encoding="utf-8")
    return root / "profile.yaml"


@settings(max_examples=60, deadline=None)
@given(profiles())
def test_generated_profiles_validate_clean(generated: Generated) -> None:
    text, _, _ = emit(generated.doc)
    with tempfile.TemporaryDirectory() as tmp:
        run = check_paths([materialise(Path(tmp), generated, text)])
    assert [d.render() for r in run.reports for d in r.diagnostics] == []
    assert run.ok


def _string_leaves(node: Any, path: DocPath = ()) -> list[DocPath]:
    found: list[DocPath] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if path == () and key == "install":
                continue  # free-form options: any scalar is fine there
            found.extend(_string_leaves(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_string_leaves(value, (*path, index)))
    elif isinstance(node, str | bool):
        found.append(path)
    return found


def _mappings(node: Any, path: DocPath = ()) -> list[DocPath]:
    found: list[DocPath] = []
    if isinstance(node, dict):
        if path != ("install",):
            found.append(path)
        for key, value in node.items():
            found.extend(_mappings(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_mappings(value, (*path, index)))
    return found


def _set(doc: Any, path: DocPath, value: Any) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


def _get(doc: Any, path: DocPath) -> Any:
    for part in path:
        doc = doc[part]
    return doc


@settings(max_examples=80, deadline=None)
@given(profiles(), st.sampled_from(["type", "unknown-key", "enum"]), st.data())
def test_one_mutation_gives_one_diagnostic_at_its_node(
    generated: Generated, mutation: str, data: st.DataObject
) -> None:
    doc = json.loads(json.dumps(generated.doc))
    if mutation == "type":
        path = data.draw(st.sampled_from(_string_leaves(doc)))
        wrong: Any = 7 if isinstance(_get(doc, path), str) else "maybe"
        _set(doc, path, wrong)
    elif mutation == "unknown-key":
        parent = data.draw(st.sampled_from(_mappings(doc)))
        _get(doc, parent)["bogusKey"] = 1
        path = (*parent, "bogusKey")
    else:
        path = data.draw(st.sampled_from([("os", "family"), ("os", "arch")]))
        _set(doc, path, "plan9")
    text, value_lines, key_lines = emit(doc)
    with tempfile.TemporaryDirectory() as tmp:
        run = check_paths([materialise(Path(tmp), generated, text)])
    (diagnostic,) = [d for r in run.reports for d in r.diagnostics]
    assert diagnostic.path == path
    lines = key_lines if mutation == "unknown-key" else value_lines
    assert diagnostic.line == lines[path]


def test_discover_profiles(tmp_path: Path) -> None:
    for name in (
        "b/profile.yaml",
        "a/profile.yaml",
        "a/nested/profile.yaml",
        ".hidden/profile.yaml",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}\n")
    found = discover_profiles([tmp_path, tmp_path / "b" / "profile.yaml"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a/profile.yaml",
        "a/nested/profile.yaml",
        "b/profile.yaml",
    ]
    with pytest.raises(InputError, match="no such file"):
        discover_profiles([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no profile\.yaml"):
        discover_profiles([tmp_path / "empty"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file_is_input_error(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text("{}\n")
    path.chmod(0)
    with pytest.raises(InputError):
        check_paths([path])


def test_a_run_reports_every_profile(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "profile.yaml").write_text(
        'id: "a|b"\nname: ok\nos: {family: rhel, release: "9", arch: x86_64}\n'
    )
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "profile.yaml").write_text("id: [\n")
    run = check_paths([tmp_path])
    assert [r.ok for r in run.reports] == [False, True]
    assert not run.ok
    assert run.error_count == 1
    assert render_report(run, "text").splitlines()[-1] == "1 error in 1 of 2 profiles"


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="no example profiles")
def test_example_profiles_are_valid() -> None:
    run = check_paths([EXAMPLES])
    assert [d.render() for r in run.reports for d in r.diagnostics] == []
    assert len(run.reports) >= 5
