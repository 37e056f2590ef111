"""`validate` says valid => `build` succeeds (issue 9, item 13), as a property.

Profiles are drawn with every family's unattend format and scripts, macros in every place a
format distinguishes (XML text, attributes, CDATA, comments; kickstart lines and sections; YAML
plain, quoted, block and flow scalars; script lines), settings values full of characters those
formats treat specially (and nulls, objects, numbers, large values against lowered size caps),
install options used as predefined macros, `render: false` entries, and a tree of custom files
with odd names from tests/factory.profile_trees. Whenever `validate` reports nothing, the build
of the same directory must succeed; when it reports something, the build must refuse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from osbundle.errors import InputError
from osbundle.macros import render as macros_render
from osbundle.model import BuildRequest
from osbundle.pipeline import build_bundle
from osbundle.profile.validate import validate_profile
from tests.factory import file_item, make_profile, profile_trees

EPOCH = 1700000000

# Characters each format treats specially, line breaks of every kind, XML-illegal ones.
SPECIAL = "&<>\"'#%:-?[]{},|*!@` \t\n\r\x00\x01\x0b\x85\u2028\ufeffé"
WORDS = ["", "end", "%end", "]]>", " lead", "trail ", "a: b", "x #y", "- x", "en_US"]
TEXT = st.one_of(
    st.text(st.one_of(st.sampled_from(SPECIAL), st.characters(codec="utf-8")), max_size=10),
    st.sampled_from(WORDS),
    st.lists(st.sampled_from(WORDS + list(SPECIAL)), max_size=4).map("".join),
)
# What profile.yaml itself can hold (its reader refuses control characters; options are
# non-empty): still special to every format.
YAML_TEXT = st.text(
    st.one_of(
        st.sampled_from("&<>\"'#%:-[]{}, é"),
        st.characters(codec="utf-8", exclude_categories=["Cc", "Cs", "Zl", "Zp"]),
    ),
    min_size=1,
    max_size=10,
)
VALUES = st.one_of(
    TEXT,
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.floats(),  # non-finite ones too: validate and build both refuse them (item 11)
)

# Per family: the unattend file, its lines with a macro at `{m}` (and the lines around them),
# and the script's suffix.
XML_LINES = [
    "  <a>{m}</a>",
    '  <b v="{m}"/>',
    "  <c v='{m}'/>",
    "  <d><![CDATA[{m}]]></d>",
    "  <!-- {m} -->",
    "  <e>x {m} y {m}</e>",
]
KS_LINES = ["lang {m}", "network --hostname={m}", "%post", "echo {m}", "  %{m}", "%end", "# {m}"]
YAML_LINES = [
    "  k{i}: {m}",
    '  q{i}: "x {m}"',
    "  s{i}: 'x {m} y'",
    "  l{i}:\n    - echo {m}",
    "  b{i}: |\n    {m}",
    "  f{i}: [{m}, x]",
    "  # {m}",
    "  {m}: v",
]
SCRIPT_LINES = ['echo "{m}"', "echo '{m}'", "# {m}", "x={m}", "{m}"]


@dataclass(frozen=True)
class Format:
    name: str  # the unattend file's name
    head: str
    lines: list[str]
    tail: str
    script: str  # the script's suffix


FAMILIES: dict[str, Format] = {
    "windows": Format(
        "autounattend.xml", '<?xml version="1.0"?>\n<u xmlns="urn:x">\n', XML_LINES, "</u>\n", "ps1"
    ),
    "sles": Format("autoinst.xml", "<profile>\n", XML_LINES, "</profile>\n", "sh"),
    "rhel": Format("ks.cfg", "", KS_LINES, "", "sh"),
    "esxi": Format("ks.cfg", "vmaccepteula\n", KS_LINES, "", "sh"),
    "ubuntu": Format("user-data.yaml", "#cloud-config\nautoinstall:\n", YAML_LINES, "", "sh"),
}
BROKEN = ["<f>{m}</g>", "<!DOCTYPE x>", "  x: [", "%end"]  # lines no format may end up with

MACROS = [
    *(f"s.v{i}" for i in range(4)),
    "s.big",
    "s.obj.k",
    "predefined.profile.name",
    "predefined.profile.description",
    "predefined.installOptions.locale",
    "predefined.otherSettings.timeZone",
]
# An object, undefined, a typo, the second settings file's (when there is one).
RARE_MACROS = ["s.obj", "s.nope", "predefined.os.archh", "t.w"]


@dataclass(frozen=True)
class Drawn:
    family: str
    files: dict[str, bytes]
    lists: dict[str, list[object]]
    install: dict[str, object]
    description: str


def template(draw: st.DrawFn, fmt: Format, lines: list[str]) -> str:
    rare = draw(st.integers(0, 9)) == 0
    macro = st.sampled_from(MACROS + RARE_MACROS if rare else MACROS)
    chosen = draw(st.lists(st.sampled_from(lines), min_size=1, max_size=5))
    if draw(st.integers(0, 9)) == 0:
        chosen.append(draw(st.sampled_from(BROKEN)))
    body = [line.format(m=f"#{draw(macro)}#", i=i) for i, line in enumerate(chosen)]
    return fmt.head + "".join(line + "\n" for line in body) + fmt.tail


@st.composite
def drawn_profiles(draw: st.DrawFn) -> Drawn:
    family = draw(st.sampled_from(sorted(FAMILIES)))
    fmt = FAMILIES[family]
    values: dict[str, Any] = {f"v{i}": draw(VALUES) for i in range(3)}
    values["v3"] = draw(st.one_of(VALUES, st.none()))
    values["big"] = "x" * draw(st.sampled_from([0, 300, 1500]))  # against caps of 2 KiB / 4 KiB
    values["obj"] = {"k": draw(TEXT)}
    tree = draw(profile_trees())
    files: dict[str, bytes] = {f"tree/{p}": data for p, data in tree.items()}
    files["settings/s.json"] = json.dumps(values).encode()
    files[f"unattend/{fmt.name}"] = template(draw, fmt, fmt.lines).encode()
    if draw(st.integers(0, 19)) == 0:  # not UTF-8
        files[f"unattend/{fmt.name}"] += b"\xff\n"
    scripts = [f"scripts/x{i}.{fmt.script}" for i in range(draw(st.integers(0, 2)))]
    for path in scripts:
        files[path] = template(draw, FAMILIES["rhel"], SCRIPT_LINES).encode()
    render = st.sampled_from([True, True, True, False])
    lists: dict[str, list[object]] = {
        "settings": ["settings/s.json"],
        "unattend": [{"source": f"unattend/{fmt.name}", "render": draw(render)}],
        "scripts": [{"source": p, "render": draw(render)} for p in scripts],
        "files": [file_item(p) for p in sorted(files) if p.startswith("tree/")],
    }
    if draw(st.integers(0, 9)) == 0:  # a second settings file, its namespace taken or not
        files["settings/t.json"] = json.dumps({"w": draw(VALUES)}).encode()
        namespace = draw(st.sampled_from(["t", "s", "predefined", "bad name"]))
        lists["settings"].append({"source": "settings/t.json", "namespace": namespace})
    install: dict[str, object] = {"locale": draw(YAML_TEXT), "timeZone": draw(YAML_TEXT)}
    return Drawn(family, files, lists, install, draw(YAML_TEXT))


def write(root: Path, drawn: Drawn) -> Path:
    make_profile(root, drawn.files, family=drawn.family, lists=drawn.lists, install=drawn.install)
    doc = json.loads((root / "profile.yaml").read_text())
    doc["description"] = drawn.description
    (root / "profile.yaml").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return root


@settings(
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(drawn_profiles())
def test_validate_ok_implies_build_ok(drawn: Drawn) -> None:
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as patch:
        home = Path(tmp) / "home"
        patch.setenv("OSBUNDLE_HOME", str(home))
        # Small caps, so that large values used several times meet them.
        patch.setattr(macros_render, "MAX_RENDERED_BYTES", 2048)
        patch.setattr(macros_render, "MAX_RENDERED_TOTAL", 4096)
        root = write(Path(tmp) / "p", drawn)
        report = validate_profile(root / "profile.yaml")
        request = BuildRequest(root, Path(tmp) / "out", source_date_epoch=EPOCH, threads=1)
        if report.ok:
            event("valid")
            build_bundle(request)  # must not raise
        else:
            event("invalid")
            with pytest.raises(InputError):
                build_bundle(request)
            assert not (Path(tmp) / "out").exists() or not any((Path(tmp) / "out").iterdir())


NOBODY = 65534


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="runs validate and build as nobody, through setpriv (util-linux)",
)
def test_a_file_the_build_cannot_open_is_refused_by_validate() -> None:
    """Before, validate only stat'ed such a file: valid, and then the build could not read it."""
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        work = Path(tmp)
        work.chmod(0o777)
        root = make_profile(work / "p", {"a.txt": b"a", "secret.bin": b"s"})
        for path in (root, *root.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
        (root / "secret.bin").chmod(0o600)  # root's: nobody cannot read it

        def as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
            drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
            return subprocess.run(
                [*drop, sys.executable, "-m", "osbundle", *args],
                capture_output=True,
                text=True,
                cwd=work,
                env=dict(os.environ, OSBUNDLE_HOME=str(work / "home"), NO_COLOR="1"),
                check=False,
                timeout=120,
            )

        validated = as_nobody("validate", "p")
        assert validated.returncode == 1, validated.stdout + validated.stderr
        assert "p/profile.yaml:" in validated.stdout
        assert "files[1].source: 'secret.bin' is not readable" in validated.stdout
        built = as_nobody("build", "p", "-o", str(work / "out"))
        assert built.returncode == 2, built.stderr
        assert "'secret.bin' is not readable" in built.stderr
        assert not (work / "out").exists()
