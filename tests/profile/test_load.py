from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from osbundle.errors import InputError, ProfileInvalid
from osbundle.kinds import file_stem
from osbundle.profile.load import check_profile, default_name, load_profile

HEAD = {"id": "a|b", "name": "p", "os": {"family": "rhel", "release": "9", "arch": "x86_64"}}


def write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
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


def test_load_profile_raises_with_every_diagnostic(tmp_path: Path) -> None:
    write(tmp_path / "profile.yaml", {"id": 1, "name": 2, "os": {}})
    with pytest.raises(ProfileInvalid) as caught:
        load_profile(tmp_path / "profile.yaml")
    assert len(caught.value.diagnostics) == 5  # id, name, os.family/release/arch
    assert caught.value.exit_code == 2


def test_missing_profile_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        check_profile(tmp_path)


def test_a_dest_is_located_where_it_was_written(tmp_path: Path) -> None:
    write(tmp_path / "profile.yaml", {**HEAD, "files": [{"source": "x", "dest": "d"}, "y"]})
    with_dest, without = load_profile(tmp_path).entries
    assert with_dest.dest_position is not None
    assert (with_dest.dest_position.line, with_dest.dest_position.col) == (9, 9)
    assert without.dest_position is None


NONFINITE = """\
id: "a|b"
name: p
os: {family: rhel, release: "9", arch: x86_64}
install:
  big: 1e400
  inf: -.inf
  nan: .NaN
  fine: 1.5e308
  nested: [.inf]
"""


def test_non_finite_numbers_are_refused_where_they_are_written(tmp_path: Path) -> None:
    (tmp_path / "profile.yaml").write_text(NONFINITE, encoding="utf-8")
    report = check_profile(tmp_path)
    assert report.profile is None
    where = [(d.line, d.col, d.path, d.message.split(" is not")[0]) for d in report.diagnostics]
    infinite = "an infinite number (.inf, or one too large for a float, like 1e400)"
    assert where == [
        (5, 8, ("install", "big"), infinite),
        (6, 8, ("install", "inf"), infinite),
        (7, 8, ("install", "nan"), "NaN"),
        # a list is no product option: the schema's error, not a second one inside it
        (9, 11, ("install", "nested"), "[inf]"),
    ]
    assert (
        report.diagnostics[0].hint
        == "write a finite number, or quote the value to make it a string"
    )


@pytest.mark.parametrize("name", ["con", "NUL.x", "aux", "trail."])
def test_a_windows_profile_name_is_a_top_directory_windows_can_hold(
    tmp_path: Path, name: str
) -> None:
    head = {**HEAD, "name": name, "os": {**HEAD["os"], "family": "windows"}}  # type: ignore[dict-item]
    write(tmp_path / "profile.yaml", head)
    report = check_profile(tmp_path)
    assert [(d.line, d.path) for d in report.diagnostics] == [(2, ("name",))]
    assert "it is the bundle's top directory" in report.diagnostics[0].message
    write(tmp_path / "profile.yaml", {**HEAD, "name": name})
    assert check_profile(tmp_path).diagnostics == ()


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing yet\n", "---\n", "null\n"])
def test_an_empty_profile_says_so(tmp_path: Path, text: str) -> None:
    (tmp_path / "profile.yaml").write_text(text, encoding="utf-8")
    report = check_profile(tmp_path)
    assert report.profile is None
    assert [d.render() for d in report.diagnostics] == [
        f"{tmp_path / 'profile.yaml'}:1:1: (root): the profile is empty (hint: a profile is a "
        "YAML mapping: id, name, os, then the files to bundle)"
    ]


def test_a_profile_yaml_linked_to_a_device_is_named_for_what_it_is(tmp_path: Path) -> None:
    (tmp_path / "profile.yaml").symlink_to("/dev/zero")
    with pytest.raises(InputError) as info:
        check_profile(tmp_path)  # never opened: /dev/zero would stream forever
    assert str(info.value) == (
        f"{tmp_path / 'profile.yaml'}: not a regular file: "
        "a symbolic link to a character device (/dev/zero)"
    )


def test_a_profile_yaml_that_is_a_fifo_or_a_dangling_link(tmp_path: Path) -> None:
    fifo = tmp_path / "f" / "profile.yaml"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"profile\.yaml: not a regular file: a FIFO$"):
        check_profile(fifo.parent)  # a FIFO nobody writes to: opening it would block
    dangling = tmp_path / "d" / "profile.yaml"
    dangling.parent.mkdir()
    dangling.symlink_to(tmp_path / "gone.yaml")
    with pytest.raises(InputError, match=r"profile\.yaml: a symbolic link to a missing file$"):
        check_profile(dangling.parent)
    with pytest.raises(InputError, match=r"nothing: no such profile file$"):
        check_profile(tmp_path / "nothing")
