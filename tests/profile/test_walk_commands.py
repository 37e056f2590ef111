"""The walk as `validate`, `plan` and `build` see it, through the CLI (issue #9 items 6 and 7).

Links inside the profile are followed (docs/profile-format.md), by all three commands alike;
a source the file system cannot take (a name too long) is one diagnostic at the entry.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from tests.factory import make_profile, osbundle


def linked_profile(root: Path) -> Path:
    """A profile naming a link to a file and a link to a directory, both inside it."""
    profile = make_profile(
        root,
        {"real.txt": b"real file\n", "realdir/x.txt": b"x in a dir\n"},
        lists={"files": [{"source": "link.txt"}, {"source": "linkdir"}]},
    )
    (profile / "link.txt").symlink_to("real.txt")
    (profile / "linkdir").symlink_to("realdir")
    return profile


def test_links_inside_the_profile_are_followed_by_validate_plan_and_build(tmp_path: Path) -> None:
    profile = linked_profile(tmp_path / "p")
    validated = osbundle("validate", str(profile), "--format", "json")
    assert validated.returncode == 0, validated.stdout + validated.stderr

    planned = osbundle("plan", str(profile), "--json")
    assert planned.returncode == 0, planned.stderr
    members = {m["path"]: m["size"] for m in json.loads(planned.stdout)["members"]}
    wanted = {
        "test-profile/custom/files/link.txt": 10,
        "test-profile/custom/files/linkdir/x.txt": 11,
    }
    assert members == wanted

    built = osbundle("build", str(profile), "-o", str(tmp_path / "out"), "--json")
    assert built.returncode == 0, built.stderr
    with tarfile.open(json.loads(built.stdout)["path"]) as tar:
        payload = {
            name: tar.extractfile(name).read()  # type: ignore[union-attr]
            for name in tar.getnames()
            if "/custom/" in name
        }
    assert payload == {
        "test-profile/custom/files/link.txt": b"real file\n",
        "test-profile/custom/files/linkdir/x.txt": b"x in a dir\n",
    }


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("x" * 4100, "File name too long"),
        ("ok/" + "y" * 256 + "/*", "File name too long"),
        ("/".join(["d" * 250] * 17), "matches no file"),  # 4,266 bytes, each name a legal one
    ],
    ids=["one-long-name", "long-name-before-a-glob", "long-path-of-legal-names"],
)
@pytest.mark.parametrize("command", ["validate", "build"])
def test_a_source_too_long_for_the_file_system_is_one_located_error(
    tmp_path: Path, source: str, problem: str, command: str
) -> None:
    profile = make_profile(tmp_path / "p", {"ok/a.txt": b"a"}, lists={"files": [source]})
    args = ["-o", str(tmp_path / "out")] if command == "build" else []
    done = osbundle(command, str(profile), *args)
    assert "Traceback" not in done.stderr
    assert done.returncode != 0
    text = done.stdout + done.stderr
    location = f"{profile / 'profile.yaml'}:"
    lines = [line for line in text.splitlines() if location in line]
    assert len(lines) == 1, text
    assert problem in lines[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
