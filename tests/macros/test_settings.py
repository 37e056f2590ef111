from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osbundle.errors import BuildError, InputError
from osbundle.macros.grammar import NullValue, Scalar
from osbundle.macros.settings import (
    SettingsFile,
    macro_table,
    parse_settings,
    predefined_values,
    read_settings,
)
from osbundle.model import OsSpec, Profile
from tests.macros.strategies import SEGMENT
from tests.origins import collected

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


def settings_file(namespace: str, path: Path, shown: str) -> SettingsFile:
    """The file as a profile's sources would have matched it."""
    return SettingsFile(namespace, shown, str(path), collected(path))


def load_settings(namespace: str, path: Path, shown: str) -> dict[str, Scalar]:
    return read_settings(settings_file(namespace, path, shown))


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
            parse_settings(namespace, b"{}", "s.json")
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(16 * 1024 * 1024 + 1)
    with pytest.raises(InputError, match="larger than 16 MiB"):
        load_settings("ns", big, "big.json")


def test_settings_are_read_as_they_were_collected(tmp_path: Path) -> None:
    path = write(tmp_path, '{"a": 1}')
    collected = settings_file("ns", path, "s.json")
    path.write_text('{"a": 22}')
    with pytest.raises(BuildError, match="size changed since the profile was collected"):
        read_settings(collected)
    path.unlink()
    with pytest.raises(BuildError, match=f"cannot open {re.escape(str(path))}"):
        read_settings(collected)
    path.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(BuildError, match="is a symbolic link"):
        read_settings(collected)


# --- macro_table: what the render stage and validate's checks share -----------------------------


def settings_files(tmp_path: Path, *files: tuple[str, str, bytes]) -> list[SettingsFile]:
    out = []
    for namespace, name, content in files:
        path = tmp_path / name
        path.write_bytes(content)
        out.append(settings_file(namespace, path, name))
    return out


def test_macro_table_is_predefined_values_plus_every_settings_file(tmp_path: Path) -> None:
    files = settings_files(tmp_path, ("a", "a.json", b'{"x": 1}'), ("b", "b.json", b'{"y": "z"}'))
    values, problems = macro_table(make_profile({"locale": "de-DE"}), files)
    assert problems == []
    assert values == {**predefined_values(make_profile({"locale": "de-DE"})), "a.x": 1, "b.y": "z"}


def test_macro_table_reports_each_problem_as_a_value(tmp_path: Path) -> None:
    files = settings_files(
        tmp_path,
        ("site", "first.json", b'{"x": 1}'),
        ("site", "again.json", b'{"y": 2}'),  # the namespace is taken
        ("9lives", "bad-name.json", b"{}"),
        ("broken", "broken.json", b'{"a": 1,\n "a": 2}'),  # located inside the file
        ("fine", "fine.json", b'{"z": 3}'),
    )
    values, problems = macro_table(make_profile({}), files)
    assert [(p.index, p.line, p.col) for p in problems] == [(1, 0, 0), (2, 0, 0), (3, 2, 2)]
    assert problems[0].message == "macro namespace 'site' is already used by 'first.json'"
    assert problems[1].message == "'9lives' cannot be a macro namespace"
    assert problems[1].hint is not None
    assert "not `predefined`" in problems[1].hint
    assert problems[2].render("broken.json") == 'broken.json:2:2: duplicate key "a"'
    assert {"site.x", "fine.z"} <= values.keys()
    assert "site.y" not in values


def test_macro_table_reports_a_file_changed_since_it_was_collected(tmp_path: Path) -> None:
    (file,) = settings_files(tmp_path, ("ns", "s.json", b'{"a": 1}'))
    (tmp_path / "s.json").write_bytes(b'{"a": 12}')
    _, problems = macro_table(make_profile({}), [file])
    assert len(problems) == 1
    assert "size changed since the profile was collected" in problems[0].message
    assert problems[0].render("s.json").startswith("s.json: ")


def test_a_number_too_large_for_a_float_is_refused_where_it_is(tmp_path: Path) -> None:
    content = b'{"text": "1e400",\n "list": [1, -1E+999]}'
    with pytest.raises(
        InputError, match=r"^s\.json:2:14: the number -1E\+999 is too large for a float"
    ):
        load_settings("ns", write(tmp_path, content), "s.json")
    assert load_settings("ns", write(tmp_path, b'{"a": 1.5e308, "b": 1e-400}'), "s.json") == {
        "ns.a": 1.5e308,
        "ns.b": 0.0,
    }
