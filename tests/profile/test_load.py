from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from osbundle.errors import InputError, ProfileInvalid
from osbundle.kinds import file_stem
from osbundle.profile.load import check_profile, default_name, load_profile

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


def test_defaults_and_model(tmp_path: Path) -> None:
    doc = {
        **HEAD,
        "install": {"unattend": "ks", "selinux": "enforcing"},
        "unattend": ["unattend/ks.cfg"],
        "settings": ["settings/site.v2.json", {"source": "s/*.json"}],
        "scripts": [{"source": "a.sh"}, {"source": "b.sh", "phase": "pre", "render": False}],
        "files": [{"source": "x", "dest": "d"}],
    }
    write(tmp_path / "profile.yaml", doc)
    profile = load_profile(tmp_path)
    assert profile.path == tmp_path / "profile.yaml"
    assert profile.root == tmp_path
    assert profile.predefined_unattend == "ks"
    assert profile.install == {"unattend": "ks", "selinux": "enforcing"}
    assert profile.description == ""
    unattend, site, glob, a, b, x = profile.entries
    assert (unattend.kind, unattend.name, unattend.render) == ("unattend", "ks", True)
    assert (site.kind, site.name, site.render) == ("settings", "site", False)
    assert glob.name is None
    assert (a.phase, a.render, b.phase, b.render) == ("post", True, "pre", False)
    assert (x.dest, x.render, x.phase, x.name) == ("d", False, None, None)
    assert unattend.yaml_path == ("unattend", 0)
    assert a.yaml_path == ("scripts", 0, "source")
    assert unattend.position is not None
    assert (unattend.position.line, unattend.position.col) == (11, 3)
    assert all(e.base_dir == tmp_path for e in profile.entries)


def test_file_stem_and_default_name() -> None:
    assert file_stem("agent.tar.gz") == "agent"
    assert file_stem(".hidden") == ".hidden"
    assert default_name("a/b/server_settings.json") == "server_settings"
    assert default_name("a/*.json") is None
    assert default_name("drivers/intel-e1d/") == "intel-e1d"


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


def test_load_profile_raises_with_every_diagnostic(tmp_path: Path) -> None:
    write(tmp_path / "profile.yaml", {"id": 1, "name": 2, "os": {}})
    with pytest.raises(ProfileInvalid) as caught:
        load_profile(tmp_path / "profile.yaml")
    assert len(caught.value.diagnostics) == 5  # id, name, os.family/release/arch
    assert caught.value.exit_code == 2


def test_missing_profile_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        check_profile(tmp_path)


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
